import { TrafficManagerError } from './errors';

/** One resolver replica's view of a revision (`GET /v1/revisions/{R}`). */
export interface ResolverPropagation {
  replica: string;
  /** The highest revision its watch feed holds. */
  feedRevision: number;
  /** When it last reported (RFC 3339). */
  seenAt: string;
  /** Heard from within PROPAGATION_REPLICA_TIMEOUT_MS; a replica that is not live does not hold the status back. */
  live: boolean;
}

/**
 * Where a committed revision has reached (`GET /v1/revisions/{R}`, or a write's `propagation` with
 * `wait`): `in-sync` once every event up to it is on Kafka, the worker has applied them to the
 * cache, and every live resolver's watch feed holds it.
 */
export interface Propagation {
  revision: number;
  /** When it was committed; null once its outbox rows are gone, or when that could not be read. */
  committedAt: string | null;
  status: 'pending' | 'in-sync';
  published: boolean;
  cacheApplied: boolean;
  resolvers: ResolverPropagation[];
  dataPlanes?: Record<string, unknown>;
  checkedAt: string;
}

/** A write that waits (`?wait=in-sync`) until its revision is in sync everywhere, or `waitTimeoutMs` passes. */
export interface WaitOptions {
  /** Answer once the write's revision is in sync (the answer's `propagation` says whether it was, in time). */
  wait?: boolean | undefined;
  /** How long the server waits (default 5,000 ms, at most 30,000); the call's own deadline grows to cover it. */
  waitTimeoutMs?: number | undefined;
}

/** The server's default wait (docs: "Propagation"). */
const DEFAULT_WAIT_MS = 5_000;
const MAX_WAIT_MS = 30_000;

/** The query of a write with `wait` ('' without), checked. */
export function waitQuery(options: WaitOptions): string {
  if (!options.wait) return '';
  const ms = options.waitTimeoutMs;
  if (ms !== undefined && (!Number.isSafeInteger(ms) || ms < 1 || ms > MAX_WAIT_MS)) {
    throw new TrafficManagerError('invalid_argument', `waitTimeoutMs must be a whole number from 1 to ${MAX_WAIT_MS}`);
  }
  return `?wait=in-sync${ms === undefined ? '' : `&waitTimeoutMs=${ms}`}`;
}

/** A call's time when it waits: at least the wait and a margin for the write itself. */
export function waitingTimeoutMs(timeoutMs: number, options: WaitOptions): number {
  return options.wait ? Math.max(timeoutMs, (options.waitTimeoutMs ?? DEFAULT_WAIT_MS) + timeoutMs) : timeoutMs;
}
