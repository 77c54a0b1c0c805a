import { ErrorReply } from 'redis';

/**
 * How the worker tells a message's own failure from an outage. A message's own failure is retried a
 * few times, then dead-lettered, and its partition goes on; an outage is retried without end, so a
 * good event is never dead-lettered because Redis or Kafka was down (for Kafka, see
 * isKafkaUnavailable in @tm/messaging).
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
