import { inErrorChain, isUnavailableError, type StoreErrorMeaning } from '@tm/platform';
import { CHECK_CONSTRAINT_FIELDS } from './check-constraints';

/**
 * What a PostgreSQL error (from pg, pg-pool or TypeORM, which wraps pg's as `driverError`) says:
 * the one place that reads SQLSTATEs and the driver's messages. Callers decide what to do with it
 * (retry a write, answer 400 or 503, serve STALE).
 */
export type PgErrorKind =
  /** 23505: a concurrent create of the same row. */
  | 'unique_violation'
  /** 23503: a row it refers to is gone (a tenant deleted meanwhile). */
  | 'foreign_key_violation'
  /** 23514: a CHECK constraint (see CHECK_CONSTRAINT_FIELDS). */
  | 'check_violation'
  /** Class 22 values PostgreSQL cannot store (a NUL in text, bad encoding, too long, out of range). */
  | 'bad_value'
  /** 40001: a serializable transaction lost a race. */
  | 'serialization_failure'
  /** 40P01. */
  | 'deadlock'
  /** 57014: statement_timeout (or a cancel) ended the query. */
  | 'statement_timeout'
  /** The database answers but takes no more: too_many_connections (53300), or the pool's wait for a connection ran out. */
  | 'overloaded'
  /** The database is not there: shut down (57P0x), a connection exception (class 08), a socket error, the driver not connected. */
  | 'unavailable';

const BY_SQLSTATE: ReadonlyMap<string, PgErrorKind> = new Map<string, PgErrorKind>([
  ['23505', 'unique_violation'],
  ['23503', 'foreign_key_violation'],
  ['23514', 'check_violation'],
  ['22021', 'bad_value'],
  ['22P02', 'bad_value'],
  ['22P05', 'bad_value'],
  ['22001', 'bad_value'],
  ['22003', 'bad_value'],
  ['40001', 'serialization_failure'],
  ['40P01', 'deadlock'],
  ['57014', 'statement_timeout'],
]);

/** admin_shutdown, crash_shutdown, cannot_connect_now; class 08 connection exceptions (not 08P01, a protocol violation: that one is ours). */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '08007']);
const UNAVAILABLE_MESSAGES = [
  // pg's client and pool.
  'Connection terminated',
  'Client has encountered a connection error',
  'Query read timeout',
  // TypeORM before the data source connected (the app started while PostgreSQL was down).
  'Driver not Connected',
];
const OVERLOAD_SQLSTATES = new Set(['53300']);
/** pg-pool's wait for a pooled connection ran out (only raised when every connection of the pool is taken). */
const POOL_WAIT_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';

/** The SQLSTATE of a driver error, or of the one TypeORM wraps. */
export function sqlState(e: unknown): string | undefined {
  const err = e as { code?: unknown; driverError?: { code?: unknown } } | null | undefined;
  const code = err?.driverError?.code ?? err?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The constraint a violation names (pg's `constraint`, on the error or the one TypeORM wraps). */
export function violatedConstraint(e: unknown): string | undefined {
  const err = e as { constraint?: unknown; driverError?: { constraint?: unknown } } | null | undefined;
  const constraint = err?.driverError?.constraint ?? err?.constraint;
  return typeof constraint === 'string' ? constraint : undefined;
}

/** pg-pool's wait for a pooled connection ran out: every connection of the pool was taken. */
export function isPoolWaitTimeout(e: unknown): boolean {
  return inErrorChain(e, (err) => typeof err.message === 'string' && err.message.includes(POOL_WAIT_TIMEOUT_MESSAGE));
}

function isOverloaded(e: unknown): boolean {
  return inErrorChain(e, (err) => typeof err.code === 'string' && OVERLOAD_SQLSTATES.has(err.code)) || isPoolWaitTimeout(e);
}

function isUnreachable(e: unknown): boolean {
  return (
    isUnavailableError(e) ||
    inErrorChain(
      e,
      (err) =>
        (typeof err.code === 'string' && UNAVAILABLE_SQLSTATES.has(err.code)) ||
        (typeof err.message === 'string' && UNAVAILABLE_MESSAGES.some((m) => (err.message as string).includes(m))),
    )
  );
}

/** What `e` says about the database or the statement, or undefined for an error that is none of these. */
export function pgErrorKind(e: unknown): PgErrorKind | undefined {
  const state = sqlState(e);
  const byState = state === undefined ? undefined : BY_SQLSTATE.get(state);
  if (byState !== undefined) return byState;
  if (isOverloaded(e)) return 'overloaded';
  if (isUnreachable(e)) return 'unavailable';
  return undefined;
}

/**
 * A write worth running again: serialization and deadlock failures, and the unique / foreign-key
 * races of concurrent creates and tenant deletes.
 */
export function isRetryableWrite(e: unknown): boolean {
  const kind = pgErrorKind(e);
  return kind === 'serialization_failure' || kind === 'deadlock' || kind === 'unique_violation' || kind === 'foreign_key_violation';
}

/**
 * What a store error means to an HTTP answer (the problem filter asks through STORE_ERRORS, which
 * DatabaseModule provides): a CHECK a request value broke is a 400 naming its field
 * (CHECK_CONSTRAINT_FIELDS; none for a CHECK no request value can break), a value the store cannot
 * hold a 400, an unreachable or overloaded database a 503.
 */
export function storeErrorMeaning(e: unknown): StoreErrorMeaning | undefined {
  switch (pgErrorKind(e)) {
    case 'check_violation': {
      const constraint = violatedConstraint(e);
      const field = constraint === undefined ? undefined : CHECK_CONSTRAINT_FIELDS[constraint];
      return { kind: 'check_violation', ...(constraint === undefined ? {} : { constraint }), ...(field === undefined ? {} : { field }) };
    }
    case 'bad_value':
      return { kind: 'bad_value' };
    case 'overloaded':
    case 'unavailable':
      return { kind: 'unavailable' };
    case 'unique_violation':
    case 'foreign_key_violation':
    case 'serialization_failure':
    case 'deadlock':
    case 'statement_timeout':
    case undefined:
      return undefined;
  }
}
