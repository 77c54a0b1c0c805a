/** Kafka topic of route events (CONTRACT.md, "Events"); overridable with KAFKA_ROUTE_EVENTS_TOPIC. */
export const DEFAULT_ROUTE_EVENTS_TOPIC = 'tm.route-events.v1';

/** Where the worker sends a message it cannot parse. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}
