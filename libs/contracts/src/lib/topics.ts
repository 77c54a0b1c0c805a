/** Kafka topic of route events (docs/guarantees.md, "Events"); overridable with KAFKA_ROUTE_EVENTS_TOPIC. */
export const DEFAULT_ROUTE_EVENTS_TOPIC = 'tm.route-events.v1';

/** Where the worker sends a message it cannot parse or cannot apply. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/**
 * Headers of a dead-lettered message (its key and value are the original message's, so that it
 * can be replayed as it was). The original's own headers are kept beside these.
 */
export const DeadLetterHeaders = {
  /** Why: the parse error, or the last error Redis gave for the message's script. */
  reason: 'tm-dlq-reason',
  /** How many times applying it was tried (1 for a message that is not a valid event). */
  attempts: 'tm-dlq-attempts',
  /** Where it was read: topic, partition and offset of the original message. */
  topic: 'tm-dlq-topic',
  partition: 'tm-dlq-partition',
  offset: 'tm-dlq-offset',
  /** On a replayed message: `<partition>:<offset>` of the dead letter it was replayed from. */
  replayedFrom: 'tm-replayed-from',
} as const;
