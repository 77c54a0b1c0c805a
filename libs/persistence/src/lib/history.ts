import { ROUTE_DELETED, type HealthCheck, type PolicyEndpoint, type TrafficPolicy } from '@tm/contracts';
import { DATABASE_TIME_MS, type Query } from './as-of';
import { POLICY_COLUMNS, routePolicy } from './policy-row';

/** One committed change as the outbox holds it: exactly what the relay publishes to Kafka. */
export interface Change {
  revision: number;
  routeKey: string;
  /** The id of the route's tenant (the event's `tenantid`; null in events written before it was carried). */
  tenantId: string | null;
  deleted: boolean;
  /** The CloudEvent, JSON on one line (jsonb's rendering, as published). */
  event: string;
  /** The write's time (ms since the epoch, the database's clock). */
  createdAt: number;
}

/** What the store held at one snapshot: the changes after a revision, and the revision clock. */
export interface ChangesAfter {
  /** The store's revision at the snapshot. */
  current: number;
  /** The database's time when the statement began: no revision above `current` was committed before it. */
  readAt: number;
  /**
   * The outbox rows with revision > `after`, in revision order and, within a revision (a change set's
   * routes), in route key order: whole revisions only (see readChangesAfter).
   */
  changes: Change[];
}

type ChangeRow = {
  current: string;
  read_at: number;
  revision: string | null;
  route_key: string | null;
  tenant_id: string | null;
  event_type: string | null;
  payload: string | null;
  created_at: number | null;
};

/** The clock's columns, then the outbox rows `o` (a LATERAL subquery over `where`), in change order. */
function changesStatement(where: string): string {
  return `SELECT r.revision AS current, ${DATABASE_TIME_MS} AS read_at, o.revision, o.route_key, o.tenant_id, o.event_type, o.payload, o.created_at
       FROM store_revision r
       LEFT JOIN LATERAL (
         SELECT revision, route_key, payload ->> 'tenantid' AS tenant_id, event_type, payload::text AS payload,
                (extract(epoch FROM created_at) * 1000)::float8 AS created_at FROM outbox
          WHERE ${where}) o ON true
      WHERE r.id = 1
      ORDER BY o.revision, o.route_key COLLATE "C"`;
}

function changesOf(rows: ChangeRow[]): ChangesAfter {
  const first = rows[0];
  if (!first) throw new Error('the revision clock is missing: has the database been migrated?');
  const changes: Change[] = [];
  for (const row of rows) {
    if (row.revision === null || row.route_key === null || row.payload === null) continue;
    changes.push({
      revision: Number(row.revision),
      routeKey: row.route_key,
      tenantId: row.tenant_id,
      deleted: row.event_type === ROUTE_DELETED,
      event: row.payload,
      createdAt: Number(row.created_at),
    });
  }
  return { current: Number(first.current), readAt: Number(first.read_at), changes };
}

/**
 * Reads the changes after `after` and the revision clock in one statement, so from one snapshot: when
 * the last change is at `current`, every change up to the store's revision at `readAt` is in hand.
 *
 * A page never splits a revision (a change set's rows share one): it holds every row of each revision
 * it reaches, `limit` rows or, to end at a revision's boundary, more (a revision larger than `limit`
 * comes whole). Revisions are dense (every revision has at least one outbox row; a write that changes
 * nothing takes none), a revision's rows commit together, and revisions become visible in commit
 * order (G2): a revision missing from the run `after + 1, after + 2, ...` is one that history no
 * longer holds, never one still to come.
 */
export async function readChangesAfter(query: Query, after: number, limit: number): Promise<ChangesAfter> {
  const rows = await query<ChangeRow>(
    changesStatement(`revision > $1 AND revision <= (SELECT max(revision) FROM (SELECT revision FROM outbox WHERE revision > $1 ORDER BY revision LIMIT $2) page)`),
    [after, limit],
  );
  return changesOf(rows);
}

/**
 * The newest changes the outbox holds, at least `rows` rows when it holds as many, whole revisions
 * (the revision of the `rows`-th newest row and every one after it), with the revision clock, from
 * one snapshot: what a watch may resume from (the outbox's retention keeps as much). `rows` 0: none.
 */
export async function readNewestChanges(query: Query, rows: number): Promise<ChangesAfter> {
  const found = await query<ChangeRow>(
    changesStatement(`$1::int > 0 AND revision >= (SELECT min(revision) FROM (SELECT revision FROM outbox ORDER BY revision DESC, id DESC LIMIT $1) newest)`),
    [rows],
  );
  return changesOf(found);
}

/** How far back the outbox reaches: its oldest row's revision (none: the store's revision + 1), and the store's revision. */
export async function historyBounds(query: Query): Promise<{ oldest: number; current: number }> {
  const rows = await query<{ oldest: string | null; current: string }>(
    `SELECT (SELECT min(revision) FROM outbox) AS oldest, r.revision AS current FROM store_revision r WHERE r.id = 1`,
    [],
  );
  const row = rows[0];
  if (!row) throw new Error('the revision clock is missing: has the database been migrated?');
  const current = Number(row.current);
  return { oldest: row.oldest === null ? current + 1 : Number(row.oldest), current };
}

/** One route of a snapshot, with its CloudEvent as the outbox would hold it. */
export interface SnapshotRoute {
  tenant: string;
  tenantId: string;
  service: string;
  environment: string;
  url: string;
  revision: number;
  updatedAt: Date;
  endpoints: PolicyEndpoint[];
  healthCheck: HealthCheck | null;
  /** The event id of the outbox row that set this state, while the outbox still holds it. */
  eventId: string | null;
}

export interface RoutesSnapshot {
  /** The store's revision the snapshot reflects. */
  asOf: number;
  /** The id of the tenant that had the slug asked for, as of `asOf` (null: none, or every tenant asked for). */
  tenantId: string | null;
  readAt: number;
  routes: SnapshotRoute[];
}

/**
 * Every route of `tenant` (of every tenant when null; of one `service` when given) and the revision
 * clock, in one statement: the routes are exactly the state as of `asOf`, in route order.
 */
export async function readRoutesSnapshot(query: Query, tenant: string | null, service: string | null): Promise<RoutesSnapshot> {
  const rows = await query<{
    as_of: string;
    read_at: number;
    tenant_id: string | null;
    route_tenant_id: string | null;
    tenant: string | null;
    service: string | null;
    environment: string | null;
    url: string | null;
    revision: string | null;
    updated_at: Date | null;
    event_id: string | null;
    policy: TrafficPolicy | null;
    health_revisions: Record<string, number> | null;
  }>(
    `SELECT r.revision AS as_of, ${DATABASE_TIME_MS} AS read_at, (SELECT id::text FROM tenants WHERE slug = $1) AS tenant_id,
            x.route_tenant_id, x.tenant, x.service, x.environment, x.url, x.revision, x.updated_at, x.event_id, x.policy, x.health_revisions
       FROM store_revision r
       LEFT JOIN LATERAL (
         SELECT t.id::text AS route_tenant_id, t.slug AS tenant, s.name AS service, e.environment, e.url, e.revision, e.updated_at, o.event_id::text AS event_id, ${POLICY_COLUMNS}
           FROM endpoints e
           JOIN services s ON s.id = e.service_id
           JOIN tenants t ON t.id = s.tenant_id
           -- The route's own row of its revision (a change set's revision has one row per route it changed).
           LEFT JOIN outbox o ON o.revision = e.revision AND o.route_key = t.slug || '/' || s.name || '/' || e.environment
          WHERE ($1::text IS NULL OR t.slug = $1) AND ($2::text IS NULL OR s.name = $2)) x ON true
      WHERE r.id = 1
      ORDER BY x.tenant, x.service, x.environment`,
    [tenant, service],
  );
  const first = rows[0];
  if (!first) throw new Error('the revision clock is missing: has the database been migrated?');
  const routes: SnapshotRoute[] = [];
  for (const row of rows) {
    if (row.tenant === null || row.route_tenant_id === null || row.service === null || row.environment === null || row.url === null || row.revision === null || row.updated_at === null) continue;
    routes.push({
      tenant: row.tenant,
      tenantId: row.route_tenant_id,
      service: row.service,
      environment: row.environment,
      url: row.url,
      revision: Number(row.revision),
      updatedAt: row.updated_at,
      ...routePolicy({ ...row, url: row.url, revision: row.revision }),
      eventId: row.event_id,
    });
  }
  return { asOf: Number(first.as_of), readAt: Number(first.read_at), tenantId: first.tenant_id, routes };
}
