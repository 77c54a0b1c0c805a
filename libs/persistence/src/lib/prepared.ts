import { createHash } from 'node:crypto';
import type { PoolClient, QueryConfig } from 'pg';
import { QueryFailedError, type EntityManager } from 'typeorm';

const names = new Map<string, string>();

/**
 * The name under which `sql` is prepared: derived from its text, so one text always has one name
 * (pg refuses a name reused for another text) and every process agrees on it.
 */
export function statementName(sql: string): string {
  let name = names.get(sql);
  if (name === undefined) {
    name = `tm_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`;
    names.set(sql, name);
  }
  return name;
}

/** `sql` with `params` as a named prepared statement for pg's `query`. */
export function preparedStatement(sql: string, params: unknown[]): QueryConfig {
  return { name: statementName(sql), text: sql, values: params };
}

/**
 * The rows of `sql`, run as a named prepared statement on the manager's connection (its
 * transaction's, or one borrowed from the pool for this statement alone): PostgreSQL parses and
 * plans it once per connection and then only binds and executes it. For the hot path's statements,
 * whose planning cost more than their execution (a route write's CTEs): each pooled connection
 * keeps the statements it prepared until it closes. Rows as RETURNING gives them (also for an
 * UPDATE or DELETE); a failure is a TypeORM QueryFailedError wrapping pg's, as `manager.query` throws.
 */
export async function preparedQuery<T>(manager: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
  const runner = manager.queryRunner ?? manager.dataSource.createQueryRunner();
  try {
    const client = (await runner.connect()) as PoolClient;
    try {
      return (await client.query(preparedStatement(sql, params))).rows as T[];
    } catch (e) {
      throw new QueryFailedError(sql, params, e as Error);
    }
  } finally {
    if (runner !== manager.queryRunner) await runner.release();
  }
}
