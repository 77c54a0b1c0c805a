import { isRetryableWrite, pgErrorKind, sqlState, storeErrorMeaning } from './pg-errors';

/** An error as pg raises it (code, constraint on the error itself). */
const pg = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`pg ${code}`), { code, ...extra });
/** TypeORM's QueryFailedError: pg's error as `driverError`. */
const typeorm = (driverError: Error) => Object.assign(new Error(driverError.message), { name: 'QueryFailedError', driverError });

describe('pgErrorKind: PostgreSQL errors read in one place', () => {
  it.each([
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
    ['53300', 'overloaded'],
    ['57P01', 'unavailable'],
    ['57P02', 'unavailable'],
    ['57P03', 'unavailable'],
    ['08006', 'unavailable'],
    ['08001', 'unavailable'],
  ])('SQLSTATE %s is %s, from pg and through TypeORM', (code, kind) => {
    expect(pgErrorKind(pg(code))).toBe(kind);
    expect(pgErrorKind(typeorm(pg(code)))).toBe(kind);
    expect(sqlState(typeorm(pg(code)))).toBe(code);
  });

  it.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), 'unavailable'],
    ['a dropped connection', new Error('Connection terminated unexpectedly'), 'unavailable'],
    ["pg's query timeout", new Error('Query read timeout'), 'unavailable'],
    ['TypeORM before it connected', new Error('Driver not Connected'), 'unavailable'],
    ['a connection error wrapped as cause', new Error('query failed', { cause: new Error('Client has encountered a connection error and is not queryable') }), 'unavailable'],
    ["pg-pool's wait for a connection", new Error('timeout exceeded when trying to connect'), 'overloaded'],
  ])('%s is %s', (_, e, kind) => {
    expect(pgErrorKind(e)).toBe(kind);
  });

  it('leaves alone what says nothing about the database: a bug, a protocol violation (08P01, ours), no error at all', () => {
    expect(pgErrorKind(new TypeError('x is undefined'))).toBeUndefined();
    expect(pgErrorKind(pg('08P01'))).toBeUndefined();
    expect(pgErrorKind(pg('42P01'))).toBeUndefined();
    expect(pgErrorKind(undefined)).toBeUndefined();
    expect(pgErrorKind('a string')).toBeUndefined();
  });

  it('a write is retried after the races of concurrent writes only', () => {
    for (const code of ['40001', '40P01', '23505', '23503']) expect(isRetryableWrite(typeorm(pg(code)))).toBe(true);
    for (const code of ['23514', '22P02', '57014', '57P01', '53300']) expect(isRetryableWrite(typeorm(pg(code)))).toBe(false);
  });
});

describe('storeErrorMeaning: what the problem filter answers', () => {
  it('a CHECK a request value breaks names its field; one it cannot break names only the constraint', () => {
    expect(storeErrorMeaning(typeorm(pg('23514', { constraint: 'endpoints_url_format' })))).toEqual({ kind: 'check_violation', constraint: 'endpoints_url_format', field: 'url' });
    expect(storeErrorMeaning(typeorm(pg('23514', { constraint: 'store_revision_id_check' })))).toEqual({ kind: 'check_violation', constraint: 'store_revision_id_check' });
  });

  it('a value the store cannot hold is a bad value; an unreachable or overloaded database is unavailable; a race is none of these', () => {
    expect(storeErrorMeaning(typeorm(pg('22021')))).toEqual({ kind: 'bad_value' });
    expect(storeErrorMeaning(typeorm(pg('57P01')))).toEqual({ kind: 'unavailable' });
    expect(storeErrorMeaning(pg('53300'))).toEqual({ kind: 'unavailable' });
    expect(storeErrorMeaning(typeorm(pg('23505')))).toBeUndefined();
  });
});
