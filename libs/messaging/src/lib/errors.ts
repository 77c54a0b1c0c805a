/**
 * How to tell, from a failed Kafka request, the cluster being unavailable from the request being
 * refused; the names are the client's (kafkajs), so they stay in this lib.
 *
 * Kafka errors that mean the cluster is unavailable or degraded, not that the topic refuses this
 * message: no connection, no answer, no leader, fewer in-sync replicas than the topic needs, the
 * producer's id or sequence lost (the producer is replaced), credentials refused (a consumer that got
 * the message with the same credentials knows it is the cluster). The worker retries these without
 * end. Anything else (the topic missing, not authorised for it, the message too large, a policy, an
 * error we do not know) means this message cannot be written there.
 */
const KAFKA_UNAVAILABLE_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSLockTimeout',
  'KafkaJSTimeout',
  'KafkaJSSASLAuthenticationError',
]);
const KAFKA_UNAVAILABLE_TYPES = new Set([
  'REQUEST_TIMED_OUT',
  'NETWORK_EXCEPTION',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
  'NOT_LEADER_OR_FOLLOWER',
  'BROKER_NOT_AVAILABLE',
  'REPLICA_NOT_AVAILABLE',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'KAFKA_STORAGE_ERROR',
  'NOT_CONTROLLER',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'NOT_COORDINATOR',
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'DUPLICATE_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'PRODUCER_FENCED',
  'SASL_AUTHENTICATION_FAILED',
  'THROTTLING_QUOTA_EXCEEDED',
]);

interface KafkaLikeError {
  name?: string;
  type?: string;
  cause?: unknown;
  errors?: unknown[];
}

/** The error and what it wraps (the client wraps the broker's error in retries and aggregates). */
function chain(e: unknown, depth = 0): KafkaLikeError[] {
  if (typeof e !== 'object' || e === null || depth > 5) return [];
  const k = e as KafkaLikeError;
  return [k, ...chain(k.cause, depth + 1), ...(Array.isArray(k.errors) ? k.errors.flatMap((x) => chain(x, depth + 1)) : [])];
}

/** The broker's error type inside a client error (`UNKNOWN_TOPIC_OR_PARTITION`...), if it has one. */
export function kafkaErrorType(e: unknown): string | undefined {
  return chain(e).find((c) => typeof c.type === 'string')?.type;
}

/** Whether a failed send means Kafka is unavailable (retried without end) rather than refusing the message. */
export function isKafkaUnavailable(e: unknown): boolean {
  return chain(e).some((c) => (c.name !== undefined && KAFKA_UNAVAILABLE_NAMES.has(c.name)) || (c.type !== undefined && KAFKA_UNAVAILABLE_TYPES.has(c.type)));
}
