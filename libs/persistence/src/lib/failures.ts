import type { DataSource } from 'typeorm';
import { isPoolWaitTimeout, pgErrorKind } from './pg-errors';

/**
 * How a database call failed, for callers that answer the two differently (docs/guarantees.md, "Resolver":
 * an unreachable database lets the resolver serve STALE; overload is a 503 with Retry-After, never STALE).
 */
export type DatabaseFailure = 'unreachable' | 'overloaded';

/** The parts of pg-pool and pg's Client that tell a saturated pool from one that cannot connect. */
interface PoolView {
  _clients?: { _connected?: boolean }[];
}

/**
 * `unreachable`, `overloaded`, or undefined for an error that is not the database's availability
 * (a constraint, a bad value: the request's or our fault).
 *
 * pg-pool raises "timeout exceeded when trying to connect" only when every connection of the pool is
 * taken and none came free in time. That is overload when those connections are up (busy with
 * queries), and unreachability when they are themselves still connecting (a server that accepts
 * nothing, or a network that drops packets): then the wait ran out because the database is not there.
 */
export function databaseFailure(dataSource: DataSource, e: unknown): DatabaseFailure | undefined {
  const kind = pgErrorKind(e);
  if (kind === 'overloaded') {
    if (!isPoolWaitTimeout(e)) return 'overloaded';
    const clients = (dataSource.driver as { master?: PoolView }).master?._clients ?? [];
    return clients.length > 0 && clients.every((c) => c._connected === true) ? 'overloaded' : 'unreachable';
  }
  return kind === 'unavailable' ? 'unreachable' : undefined;
}
