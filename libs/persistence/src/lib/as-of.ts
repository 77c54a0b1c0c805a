import type { HealthCheck, PolicyEndpoint, RouteId, TrafficPolicy } from '@tm/contracts';
import { POLICY_COLUMNS, routePolicy } from './policy-row';

/** Runs one SQL statement and gives its rows: a TypeORM DataSource's query, or a pg pool's. */
export type Query = <T>(sql: string, params: unknown[]) => Promise<T[]>;

export interface RouteSnapshot {
  /** The store revision this answer reflects: every write with revision <= asOf is included. */
  asOf: number;
  /** The route at that revision; null when it does not exist. */
  route: { url: string; revision: number; updatedAt: Date; endpoints: PolicyEndpoint[]; healthCheck: HealthCheck | null; tenantId: string } | null;
  /**
   * The database's time when the statement began (statement_timestamp(), ms since the epoch, floored):
   * its snapshot was taken after, so the answer is known current from then, on the database's clock.
   */
  readAt: number;
}

/** The database's time as ms since the epoch (floored): a select expression, read by JS as a number. */
export const DATABASE_TIME_MS = 'floor(extract(epoch FROM statement_timestamp()) * 1000)::float8';

/** The database's time when the statement began (ms since the epoch): a sample of its clock. */
export async function databaseTime(query: Query): Promise<number> {
  const rows = await query<{ t: number }>(`SELECT ${DATABASE_TIME_MS} AS t`, []);
  return Number(rows[0]?.t);
}

/**
 * Reads a route and the revision clock in one statement, so from one snapshot: the answer is
 * exactly the state as of `asOf` (G2, G5, G6), and the database's time it is known current from.
 * The resolver's fills depend on this.
 */
export async function readRouteAsOf(query: Query, id: RouteId): Promise<RouteSnapshot> {
  const rows = await query<{
    as_of: string;
    url: string | null;
    revision: string | null;
    updated_at: Date | null;
    tenant_id: string | null;
    read_at: number;
    policy: TrafficPolicy | null;
    health_revisions: Record<string, number> | null;
  }>(
    `SELECT r.revision AS as_of, e.url, e.revision, e.updated_at, t.id::text AS tenant_id, ${POLICY_COLUMNS},
            ${DATABASE_TIME_MS} AS read_at
       FROM store_revision r
       LEFT JOIN (endpoints e
                  JOIN services s ON s.id = e.service_id
                  JOIN tenants t ON t.id = s.tenant_id)
              ON t.slug = $1 AND s.name = $2 AND e.environment = $3
      WHERE r.id = 1`,
    [id.tenant, id.service, id.environment],
  );
  const row = rows[0];
  if (!row) throw new Error('the revision clock is missing: has the database been migrated?');
  return {
    asOf: Number(row.as_of),
    readAt: Number(row.read_at),
    route:
      row.url === null || row.revision === null || row.updated_at === null || row.tenant_id === null
        ? null
        : {
            url: row.url,
            revision: Number(row.revision),
            updatedAt: row.updated_at,
            tenantId: row.tenant_id,
            ...routePolicy({ ...row, url: row.url, revision: row.revision }),
          },
  };
}

/** The current store revision. */
export async function currentRevision(query: Query): Promise<number> {
  const rows = await query<{ revision: string }>('SELECT revision FROM store_revision WHERE id = 1', []);
  return Number(rows[0]?.revision ?? 0);
}

/** The PostgreSQL channel a write transaction notifies on commit; the relay listens to it. */
export const OUTBOX_CHANNEL = 'tm_outbox';

/**
 * Rows of an UPDATE or DELETE ... RETURNING. TypeORM answers those with [rows, affected count]
 * (a SELECT or INSERT with plain rows).
 */
export async function returning<T>(
  manager: { query<R = unknown>(sql: string, params?: unknown[]): Promise<R> },
  sql: string,
  params: unknown[],
): Promise<T[]> {
  const result = await manager.query<unknown[]>(sql, params);
  return (result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number' ? result[0] : result) as T[];
}
