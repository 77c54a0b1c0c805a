import { ErrorReply } from 'redis';

/**
 * How the worker tells a message's own failure from an outage. A message's own failure is retried a
 * few times, then dead-lettered, and its partition goes on; an outage is retried without end, so a
 * good event is never dead-lettered because Redis or Kafka was down.
 */

/**
 * Redis error replies that say something about Redis, not about the message: the server is loading,
 * busy with a script, without a quorum, read-only (a replica, mid-failover), out of memory, unable to
 * persist, refusing our credentials, redirecting a slot, or missing the script (loaded again). Any
 * other error reply to the script of one message (WRONGTYPE: another value at the route's key, a Lua
 * error, ERR ...) is that message's.
 */
const REDIS_CONDITIONS = new Set([
  'LOADING',
  'BUSY',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'MASTERDOWN',
  'READONLY',
  'NOREPLICAS',
  'OOM',
  'MISCONF',
  'NOAUTH',
  'WRONGPASS',
  'NOPERM',
  'MOVED',
  'ASK',
  'NOSCRIPT',
  'EXECABORT',
]);

/** The code of a Redis error reply: its first word (`WRONGTYPE`, `ERR`, `LOADING`...). */
export function redisErrorCode(e: ErrorReply): string {
  return /^[A-Z][A-Z_]*/.exec(e.message)?.[0] ?? 'OTHER';
}

/** Whether an error reply to one message's script is the message's own failure (see REDIS_CONDITIONS). */
export function isMessageError(e: unknown): e is ErrorReply {
  return e instanceof ErrorReply && !REDIS_CONDITIONS.has(redisErrorCode(e));
}

/** The `reason` label of a dead letter: `invalid_event` (not a valid event), or `redis_<code>` (its script's error). */
export function deadLetterLabel(e: ErrorReply | undefined): string {
  if (!e) return 'invalid_event';
  const code = redisErrorCode(e);
  return `redis_${['WRONGTYPE', 'ERR', 'NOTBUSY', 'UNKILLABLE'].includes(code) ? code.toLowerCase() : 'other'}`;
}

/**
 * Kafka errors that mean the cluster is unavailable or degraded, not that the dead-letter topic
 * refuses this message: no connection, no answer, no leader, fewer in-sync replicas than the topic
 * needs, the producer's id or sequence lost (the producer is replaced), credentials refused (the
 * consumer got the message with the same credentials, so it is the cluster). Retried without end.
 * Anything else (the topic missing, not authorised for it, the message too large, a policy, an error
 * we do not know) means this dead letter cannot be written: tried a bounded number of times.
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

/** The error and what it wraps (kafkajs wraps the broker's error in retries and aggregates). */
function chain(e: unknown, depth = 0): KafkaLikeError[] {
  if (typeof e !== 'object' || e === null || depth > 5) return [];
  const k = e as KafkaLikeError;
  return [k, ...chain(k.cause, depth + 1), ...(Array.isArray(k.errors) ? k.errors.flatMap((x) => chain(x, depth + 1)) : [])];
}

/** The broker's error type inside a kafkajs error (`UNKNOWN_TOPIC_OR_PARTITION`...), if it has one. */
export function kafkaErrorType(e: unknown): string | undefined {
  return chain(e).find((c) => typeof c.type === 'string')?.type;
}

/** Whether a failed send means Kafka is unavailable (retried without end) rather than refusing the message. */
export function isKafkaUnavailable(e: unknown): boolean {
  return chain(e).some((c) => (c.name !== undefined && KAFKA_UNAVAILABLE_NAMES.has(c.name)) || (c.type !== undefined && KAFKA_UNAVAILABLE_TYPES.has(c.type)));
}
