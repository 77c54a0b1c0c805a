import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter, type Registry } from 'prom-client';
import { DataSource, type EntityManager } from 'typeorm';
import { routeEvent, type RouteId, type TrafficPolicy } from '@tm/contracts';
import { isRetryableWrite, OUTBOX_CHANNEL, preparedQuery, returning, sqlState } from '@tm/persistence';
import { METRICS_REGISTRY } from '@tm/platform';
import type { ChangeOrigin } from './change-origin';

const MAX_ATTEMPTS = 5;

/** The database's clock time as CloudEvents writes it (RFC 3339, UTC, milliseconds), as `Date.toISOString` does. */
export const ISO_TIME = `to_char(c.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * `c`: takes the next `count` revisions (an SQL expression), only once `ready` (a condition on the
 * CTEs before it) holds: a change that will not happen takes none, so revisions have no gaps. The
 * clock row stays locked until commit, so revisions become visible in the order they were taken
 * (G2). `c.revision` is the last revision taken, `c.at` the database's clock time.
 */
function takeRevisions(count: string, ready: string): string {
  return `c AS (UPDATE store_revision SET revision = revision + ${count} WHERE id = 1 AND ${ready} RETURNING revision, clock_timestamp() AS at)`;
}

/** The jsonb `json` (SQL) with `fields` (path, SQL value) set. */
export function jsonbSet(json: string, fields: [path: string, value: string][]): string {
  return fields.reduce((out, [path, value]) => `jsonb_set(${out}, '${path}', to_jsonb(${value}))`, json);
}

/**
 * A route change's CloudEvent, built in SQL from `event` (the event routeEvent built in the app,
 * with revision 0: its shape has one source) with `revision`, the time of the clock `c`, the id of
 * the route's tenant (`tenantid`: a tenant is its id, not its slug) and (an upsert) the endpoints
 * with their health revisions.
 */
function eventJson(event: string, revision: string, tenantId: string, endpoints?: string): string {
  return jsonbSet(event, [
    ['{data,revision}', revision],
    ['{time}', ISO_TIME],
    ['{tenantid}', `(${tenantId})::text`],
    ...(endpoints === undefined ? [] : ([['{data,endpoints}', endpoints]] as [string, string][])),
  ]);
}

/** The id of the tenant of the route `cur` locked (see lockEndpoint), as SQL. */
const TENANT_OF_CUR = 'SELECT s.tenant_id FROM services s JOIN cur ON s.id = cur.service_id';

/**
 * `o`: the outbox rows of route changes (G1, G7), one per row of `from` (which includes `c`),
 * written by the statement that makes the changes, each at its revision and the clock's time.
 */
function outboxRows(row: { eventId: string; routeKey: string; eventType: string; event: string; revision: string; tenantId: string; from: string; endpoints?: string }): string {
  return `o AS (
    INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at)
    SELECT ${row.eventId}, ${row.routeKey}, ${row.eventType}, ${eventJson(row.event, row.revision, row.tenantId, row.endpoints)}, ${row.revision}, c.at
      FROM ${row.from})`;
}

/**
 * The outbox row of one route's deletion, from the revision `c` took and the route `cur` locked.
 * Parameters $1..$5 (eventParams): event id, route key, event type, the event as routeEvent built
 * it, the relay's channel.
 */
const OUTBOX_OF_DELETION = outboxRows({ eventId: '$1::uuid', routeKey: '$2', eventType: '$3', event: '$4::jsonb', revision: 'c.revision', tenantId: TENANT_OF_CUR, from: 'c' });

/**
 * The outbox row of an upsert: as OUTBOX_OF_DELETION, with the endpoints of `policy` (an SQL jsonb
 * value) and their health revisions from `hr` (see healthRevisions), in the tenant `tenantId` (SQL).
 */
function outboxOfUpsert(policy: string, tenantId: string): string {
  return outboxRows({
    eventId: '$1::uuid',
    routeKey: '$2',
    eventType: '$3',
    event: '$4::jsonb',
    revision: 'c.revision',
    tenantId,
    from: 'c, hr',
    endpoints: `(SELECT jsonb_agg(n.e || jsonb_build_object('healthRevision', hr.v -> (n.e ->> 'id')) ORDER BY n.i)
                   FROM jsonb_array_elements(${policy} -> 'endpoints') WITH ORDINALITY n(e, i))`,
  });
}

/** The policy of a row that has none (its URL alone), as SQL over the row's `url`. */
function impliedPolicy(url: string): string {
  return `jsonb_build_object('endpoints', jsonb_build_array(jsonb_build_object('id', 'default', 'url', ${url})), 'healthCheck', 'null'::jsonb)`;
}

/**
 * `old`, `hr`: the health revisions a write gives the endpoints of `policy` (an SQL jsonb value, the
 * effective policy): an endpoint that keeps its id, its URL and the route's health check keeps its
 * health revision; any other starts its health at the write's revision (`c`). With `fromCur`, the
 * previous state is the locked row `cur`; without, there is none (a create).
 */
function healthRevisions(policy: string, fromCur: boolean): string {
  const kept = fromCur
    ? `(SELECT old.hr -> (n.e ->> 'id') FROM old
         WHERE old.p -> 'healthCheck' = ${policy} -> 'healthCheck'
           AND EXISTS (SELECT 1 FROM jsonb_array_elements(old.p -> 'endpoints') x(e)
                        WHERE x.e ->> 'id' = n.e ->> 'id' AND x.e ->> 'url' = n.e ->> 'url'))`
    : 'NULL::jsonb';
  return `${
    fromCur
      ? `old AS (SELECT COALESCE(cur.policy, ${impliedPolicy('cur.url')}) AS p,
                        COALESCE(cur.health_revisions, jsonb_build_object('default', cur.revision)) AS hr FROM cur),`
      : ''
  }
       hr AS (SELECT COALESCE(jsonb_object_agg(n.e ->> 'id', COALESCE(${kept}, to_jsonb(c.revision))), '{}'::jsonb) AS v
                FROM c, jsonb_array_elements(${policy} -> 'endpoints') n(e))`;
}

/** What a route's version records: its PUT body after the change (the stored policy, or `{url}` alone), as SQL. */
function versionBody(url: string, stored: string): string {
  return `COALESCE(${stored}, jsonb_build_object('url', ${url}::text))`;
}

/**
 * `v`, `cs`: the history of a change set of one route (docs/changes.md): the route's version and the
 * change set's row, one each per row of `from` (none when the write changed nothing). `origin` is the
 * first of three parameters (changeOriginParams): who, the request id, the client address.
 */
function historyOfOne(r: {
  tenantId: string;
  tenant: string;
  service: string;
  environment: string;
  from: string;
  revision: string;
  at: string;
  op: 'put' | 'delete';
  body: string;
  created: boolean;
  createdAt: string;
  origin: number;
}): string {
  return `v AS (
    INSERT INTO route_versions (tenant_id, tenant, service, environment, revision, at, op, body, created, created_at)
    SELECT (${r.tenantId}), ${r.tenant}, ${r.service}, ${r.environment}, ${r.revision}, ${r.at}, '${r.op}', ${r.body}, ${r.created}, ${r.createdAt} FROM ${r.from}),
  cs AS (
    INSERT INTO change_sets (revision, at, by, request_id, client_address, size, tenant_ids, tenants)
    SELECT ${r.revision}, ${r.at}, $${r.origin}::jsonb, $${r.origin + 1}, $${r.origin + 2}, 1, ARRAY[(${r.tenantId})], ARRAY[${r.tenant}::text] FROM ${r.from})`;
}

/** The parameters historyOfOne's `origin` names. */
export function changeOriginParams(origin: ChangeOrigin): unknown[] {
  return [JSON.stringify(origin.by), origin.requestId, origin.clientAddress];
}

/** The id of an event template: each row gets its own. */
const NO_ID = '00000000-0000-0000-0000-000000000000';

/**
 * $1..$5 of a route change's statement (see OUTBOX_OF_DELETION). An upsert's event carries the policy
 * (its endpoints' health revisions are set in SQL); a deletion's has no endpoints.
 */
function eventParams(id: RouteId, change: { url: string; policy: TrafficPolicy } | null): unknown[] {
  // A single route write is a change set of one.
  const event = change
    ? routeEvent(
        randomUUID(),
        new Date(0),
        {
          ...id,
          url: change.url,
          revision: 0,
          endpoints: change.policy.endpoints.map((e) => ({ ...e, healthRevision: 0 })),
          healthCheck: change.policy.healthCheck,
        },
        undefined,
        1,
      )
    : routeEvent(randomUUID(), new Date(0), { ...id, url: null, revision: 0, endpoints: [], healthCheck: null }, undefined, 1);
  return [event.id, event.subject, event.type, JSON.stringify(event), OUTBOX_CHANNEL];
}

/**
 * What a route write sets: the URL (the policy's first choice), the policy as stored (null when it
 * is the URL alone) and the effective policy (never null: what the event carries).
 */
export interface RouteWrite {
  url: string;
  stored: TrafficPolicy | null;
  policy: TrafficPolicy;
}

/** A jsonb parameter: the value as JSON, or SQL NULL. */
function jsonParam(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/** The endpoint a write was decided on, and the revision it had then. */
export interface DecidedEndpoint {
  id: string;
  revision: string;
}

/**
 * The CTEs `tl` and `cur`, and their parameters from `$first`. `tl` locks the route's tenant row
 * (with its latest counts: see TenantQuota) before anything else, in the order a tenant deletion
 * and a create lock, so that they wait for each other instead of deadlocking. `cur` then locks the
 * endpoint the write applies to: the one the write was decided on if it is still at that revision,
 * or (undecided) the route's endpoint as it is now. Either way the lock is on the row's latest
 * version, and `cur` is empty when the tenant or the endpoint is gone or moved on.
 */
function lockEndpoint(id: RouteId, decided: DecidedEndpoint | undefined, lock: string, first: number): [string, unknown[]] {
  const tenant = `tl AS MATERIALIZED (SELECT id, probed_endpoint_count FROM tenants WHERE slug = $${first} FOR NO KEY UPDATE)`;
  if (decided) {
    return [
      `${tenant},
       cur AS (SELECT e.id, e.service_id, e.url, e.policy, e.health_revisions, e.revision, e.created_at, e.updated_at
                 FROM endpoints e, tl WHERE e.id = $${first + 1} AND e.revision = $${first + 2} ${lock} OF e)`,
      [id.tenant, decided.id, decided.revision],
    ];
  }
  return [
    `${tenant},
     cur AS (
       SELECT e.id, e.service_id, e.url, e.policy, e.health_revisions, e.revision, e.created_at, e.updated_at
         FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tl ON tl.id = s.tenant_id
        WHERE s.name = $${first + 1} AND e.environment = $${first + 2}
        ${lock} OF e)`,
    [id.tenant, id.service, id.environment],
  ];
}

/**
 * The tenant limits a route write checks (TENANT_MAX_ROUTES, TENANT_MAX_PROBED_ENDPOINTS), against
 * the tenant row's counts (kept exact by the database's triggers on endpoints) as of the tenant row's
 * lock: a concurrent write in the tenant holds that lock until it commits, and the check then reads
 * the count it left. So two creates at the limit cannot both pass.
 */
export interface TenantQuota {
  routes: number;
  probedEndpoints: number;
}

/** Which tenant limit refused a write, the tenant's count of it then, and what the write would have added. */
export interface QuotaRefusal {
  refused: 'routes' | 'probed_endpoints';
  count: number;
  adding: number;
}

/** An endpoint row as the route statements return it. */
export interface EndpointRow {
  revision: string;
  created_at: Date;
  updated_at: Date;
}

/** A route's endpoint as a write reads it before changing it. */
export interface CurrentEndpoint extends EndpointRow {
  id: string;
  url: string;
  policy: TrafficPolicy | null;
  health_revisions: Record<string, number> | null;
}

/**
 * The write path's statements: the store-wide revision clock and the transactional outbox (G1,
 * G2, G7).
 *
 * A route write is one statement, in a transaction of its own: it takes its revision from the
 * clock, changes the endpoint and writes the outbox row together, and commits without another
 * round trip, so the clock row (which orders every writer) is locked only inside the database.
 * A change to an existing endpoint is a compare-and-set on the revision the write was decided
 * on: it locks the endpoint row, and changes nothing (takes no revision) when the row moved on
 * meanwhile; the caller then decides again on the new state.
 */
@Injectable()
export class WriteStore {
  private readonly logger = new Logger(WriteStore.name);
  private readonly retries: Counter<'sqlstate'>;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.retries = new Counter({
      name: 'tm_write_retries_total',
      help: 'Writes run again after a race, by SQLSTATE (40001 serialization, 40P01 deadlock, 23505 and 23503 concurrent creates and deletes)',
      labelNames: ['sqlstate'],
      registers: [registry],
    });
  }

  /** Runs `work` again (a few times) when a race made it fail: see isRetryableWrite (@tm/persistence). */
  async retrying<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (e) {
        if (attempt >= MAX_ATTEMPTS || !isRetryableWrite(e)) throw e;
        const state = sqlState(e) ?? 'unknown';
        this.retries.inc({ sqlstate: state });
        this.logger.debug(`write retried after SQLSTATE ${state} (attempt ${attempt})`);
      }
    }
  }

  /**
   * The route's endpoint, as committed now; `lock` (inside a transaction) queues for its row lock,
   * and its tenant's before it (the rows are locked in the order named), as every route write locks them.
   */
  async findEndpoint(manager: EntityManager, id: RouteId, lock = false): Promise<CurrentEndpoint | undefined> {
    const [row] = await preparedQuery<CurrentEndpoint>(
      manager,
      `SELECT e.id, e.url, e.policy, e.health_revisions, e.revision, e.created_at, e.updated_at
         FROM tenants t JOIN services s ON s.tenant_id = t.id JOIN endpoints e ON e.service_id = s.id
        WHERE t.slug = $1 AND s.name = $2 AND e.environment = $3${lock ? ' FOR NO KEY UPDATE OF t, e' : ''}`,
      [id.tenant, id.service, id.environment],
    );
    return row;
  }

  /**
   * Creates the route's endpoint (and its tenant and service when absent) at the next revision,
   * with its outbox row, if the tenant has room for it (`quota`): else nothing changes and the
   * refusal says which limit. The tenant and service rows are locked before the clock, in the order
   * a tenant deletion locks them, so the two wait for each other instead of deadlocking. A
   * concurrent create of the same route fails with a unique violation (23505): decide again.
   * A route whose probed endpoints alone are beyond the quota creates no tenant either.
   */
  async createEndpoint(
    manager: EntityManager,
    id: RouteId,
    write: RouteWrite,
    quota: TenantQuota,
    origin: ChangeOrigin,
  ): Promise<(EndpointRow & { created_tenant: string | null }) | QuotaRefusal> {
    const [row] = await preparedQuery<(EndpointRow & { route_count: null; created_tenant: string | null }) | { revision: null; route_count: number | null; probed_endpoint_count: number | null; adding: number }>(
      manager,
      `WITH t AS (
         INSERT INTO tenants (slug) SELECT $6 WHERE probed_endpoints($11::jsonb) <= $13
         ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug
         RETURNING id, route_count, probed_endpoint_count, xmax = 0 AS inserted),
       room AS (
         SELECT t.id FROM t
          WHERE t.route_count < $12 AND (probed_endpoints($11::jsonb) = 0 OR t.probed_endpoint_count + probed_endpoints($11::jsonb) <= $13)),
       s AS (
         INSERT INTO services (tenant_id, name) SELECT room.id, $7 FROM room
         ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id),
       ${takeRevisions('1', 'EXISTS (SELECT 1 FROM s)')},
       ${healthRevisions('$11::jsonb', false)},
       w AS (
         INSERT INTO endpoints (service_id, environment, url, policy, health_revisions, revision, created_at, updated_at)
         SELECT s.id, $8, $9, $10::jsonb, hr.v, c.revision, c.at, c.at FROM s, c, hr RETURNING revision, created_at, updated_at),
       ${outboxOfUpsert('$11::jsonb', 'SELECT id FROM t')},
       ${historyOfOne({ tenantId: 'SELECT id FROM t', tenant: '$6', service: '$7', environment: '$8', from: 'w', revision: 'w.revision', at: 'w.updated_at', op: 'put', body: versionBody('$9', '$10::jsonb'), created: true, createdAt: 'w.created_at', origin: 14 })}
       SELECT w.revision, w.created_at, w.updated_at, pg_notify($5, w.revision::text)::text AS notified,
              NULL::integer AS route_count, NULL::integer AS probed_endpoint_count, NULL::integer AS adding,
              (SELECT CASE WHEN inserted THEN id END FROM t) AS created_tenant FROM w
       UNION ALL
       SELECT NULL, NULL, NULL, NULL, t.route_count, t.probed_endpoint_count, probed_endpoints($11::jsonb), NULL
         FROM (SELECT 1) one LEFT JOIN t ON true WHERE NOT EXISTS (SELECT 1 FROM room)`,
      [
        ...eventParams(id, write),
        id.tenant,
        id.service,
        id.environment,
        write.url,
        jsonParam(write.stored),
        JSON.stringify(write.policy),
        quota.routes,
        quota.probedEndpoints,
        ...changeOriginParams(origin),
      ],
    );
    if (!row) throw new Error('the revision clock is missing: has the database been migrated?');
    if (row.revision !== null) return row;
    if (row.route_count !== null && row.route_count >= quota.routes) return { refused: 'routes', count: row.route_count, adding: 1 };
    return { refused: 'probed_endpoints', count: row.probed_endpoint_count ?? 0, adding: row.adding };
  }

  /**
   * Sets the route's URL and policy at the next revision, with its outbox row. With `decided`: only
   * if the endpoint is still at the revision the decision saw. Without: whatever the route holds now
   * (an unconditional PUT, decided and applied in one statement). Returns the endpoint and whether
   * it changed (not when it already had this URL and policy); undefined, with nothing changed and no
   * revision taken, when the route is gone or moved on. A change that adds probed endpoints beyond
   * the tenant's quota (`maxProbedEndpoints`; one that adds none always passes) changes nothing and
   * returns the refusal.
   */
  async updateEndpoint(
    manager: EntityManager,
    id: RouteId,
    decided: DecidedEndpoint | undefined,
    write: RouteWrite,
    maxProbedEndpoints: number,
    origin: ChangeOrigin,
  ): Promise<(EndpointRow & { changed: boolean }) | QuotaRefusal | undefined> {
    const [target, params] = lockEndpoint(id, decided, 'FOR NO KEY UPDATE', 10);
    const same = 'cur.url = $6 AND cur.policy IS NOT DISTINCT FROM $7::jsonb';
    const [row] = await preparedQuery<EndpointRow & { changed: boolean; refused: boolean; probed_endpoint_count: number; adding: number }>(
      manager,
      `WITH ${target},
       -- Probed endpoints the write adds (fewer than 0: it removes some), and whether the tenant has room for them.
       added AS (SELECT probed_endpoints($8::jsonb) - probed_endpoints(cur.policy) AS n FROM cur),
       fits AS (SELECT 1 FROM tl, added WHERE added.n <= 0 OR tl.probed_endpoint_count + added.n <= $9),
       ${takeRevisions('1', `EXISTS (SELECT 1 FROM cur WHERE NOT (${same})) AND EXISTS (SELECT 1 FROM fits)`)},
       ${healthRevisions('$8::jsonb', true)},
       w AS (
         UPDATE endpoints e SET url = $6, policy = $7::jsonb, health_revisions = hr.v, revision = c.revision, updated_at = c.at
           FROM c, cur, hr
          WHERE e.id = cur.id RETURNING e.revision, e.created_at, e.updated_at),
       ${outboxOfUpsert('$8::jsonb', TENANT_OF_CUR)},
       ${historyOfOne({ tenantId: 'SELECT id FROM tl', tenant: '$10', service: '$13', environment: '$14', from: 'w', revision: 'w.revision', at: 'w.updated_at', op: 'put', body: versionBody('$6', '$7::jsonb'), created: false, createdAt: 'w.created_at', origin: 15 })}
       SELECT true AS changed, false AS refused, w.revision, w.created_at, w.updated_at, pg_notify($5, w.revision::text)::text AS notified,
              NULL::integer AS probed_endpoint_count, NULL::integer AS adding FROM w
       UNION ALL
       SELECT false, false, cur.revision, cur.created_at, cur.updated_at, NULL, NULL, NULL FROM cur WHERE ${same}
       UNION ALL
       SELECT false, true, cur.revision, cur.created_at, cur.updated_at, NULL, tl.probed_endpoint_count, added.n
         FROM cur, tl, added WHERE NOT (${same}) AND NOT EXISTS (SELECT 1 FROM fits)`,
      [...eventParams(id, write), write.url, jsonParam(write.stored), JSON.stringify(write.policy), maxProbedEndpoints, ...params, id.service, id.environment, ...changeOriginParams(origin)],
    );
    if (row?.refused) return { refused: 'probed_endpoints', count: row.probed_endpoint_count, adding: row.adding };
    return row;
  }

  /**
   * Deletes the endpoint at the next revision, with its outbox row; with `decided`, only if it is
   * still at the revision the decision saw. Returns the deletion's revision, or undefined (nothing
   * changed) when the route is gone or moved on.
   */
  async deleteEndpoint(manager: EntityManager, id: RouteId, decided: DecidedEndpoint | undefined, origin: ChangeOrigin): Promise<number | undefined> {
    const [target, params] = lockEndpoint(id, decided, 'FOR UPDATE', 6);
    const [row] = await preparedQuery<{ revision: string }>(
      manager,
      `WITH ${target},
       ${takeRevisions('1', 'EXISTS (SELECT 1 FROM cur)')},
       d AS (DELETE FROM endpoints e USING c, cur WHERE e.id = cur.id),
       ${OUTBOX_OF_DELETION},
       ${historyOfOne({ tenantId: 'SELECT id FROM tl', tenant: '$6', service: '$9', environment: '$10', from: 'c', revision: 'c.revision', at: 'c.at', op: 'delete', body: 'NULL::jsonb', created: false, createdAt: 'NULL::timestamptz', origin: 11 })}
       SELECT c.revision, pg_notify($5, c.revision::text)::text AS notified FROM c`,
      [...eventParams(id, null), ...params, id.service, id.environment, ...changeOriginParams(origin)],
    );
    return row ? Number(row.revision) : undefined;
  }

  /**
   * Deletes the tenant with its services, routes and keys, in one statement in a transaction of its
   * own (after the tenant's lock, below): one change set, so every route goes at ONE new revision and
   * gets its own `deleted` event there (as a route deletion writes it, with `changesetsize` the number
   * of routes). Returns how many routes went, or undefined (nothing changed) when there is no such tenant.
   *
   * Locks, in this order and all before the clock: the tenant row (a route create upserts it first,
   * so none can start in the tenant meanwhile), its services, its endpoints, its keys; and numbers
   * the routes and builds their events but for revision and time. Then it takes the deletion's
   * revision in one UPDATE of the clock, writes the outbox rows, deletes the endpoints
   * and the tenant (services and keys cascade, their rows already locked; nothing is deleted unless
   * the revisions were taken) and commits. So the clock row is locked only inside the database, as
   * a route write locks it, and never while the deletion waits for a row. A route write locks its
   * tenant (then its service or endpoint) before the clock too: the two wait for each other, never
   * deadlock.
   *
   * The tenant row is locked first, by a statement of its own in the same transaction: a route
   * write in the tenant locks that row before anything else, so once the lock is held no write in
   * the tenant is under way, and the deletion's statement, whose snapshot is taken after it, sees
   * every route. (In one statement, a route created after the snapshot but before the lock was
   * missed; deleting its service failed the foreign key and the deletion ran again, and under a
   * steady stream of creates into the tenant every attempt could fail that way.)
   */
  deleteTenant(slug: string, origin: ChangeOrigin): Promise<{ tenantId: string; routes: number; revision: number | null } | undefined> {
    const template = routeEvent(NO_ID, new Date(0), { tenant: slug, service: '', environment: '', url: null, revision: 0, endpoints: [], healthCheck: null });
    return this.retrying(() => this.dataSource.transaction((manager) => this.deleteLockedTenant(manager, slug, template, origin)));
  }

  private async deleteLockedTenant(
    manager: EntityManager,
    slug: string,
    template: ReturnType<typeof routeEvent>,
    origin: ChangeOrigin,
  ): Promise<{ tenantId: string; routes: number; revision: number | null } | undefined> {
    const tenant = await manager.query<unknown[]>('SELECT id FROM tenants WHERE slug = $1 FOR UPDATE', [slug]);
    if (tenant.length === 0) return undefined;
    const [row] = await returning<{ tenants: number; deleted: number; tenant_id: string | null; routes: number; revision: string | null }>(
      manager,
      `WITH t AS MATERIALIZED (SELECT id FROM tenants WHERE slug = $1 FOR UPDATE),
       s AS MATERIALIZED (SELECT s.id, s.name FROM services s JOIN t ON s.tenant_id = t.id FOR UPDATE OF s),
       r AS MATERIALIZED (SELECT e.id, s.name AS service, e.environment FROM endpoints e JOIN s ON e.service_id = s.id FOR UPDATE OF e),
       k AS MATERIALIZED (SELECT k.id FROM api_keys k JOIN t ON k.tenant_id = t.id FOR UPDATE OF k),
       -- The routes in route order, with their events but for revision and time.
       q AS MATERIALIZED (
         SELECT gen_random_uuid() AS event_id, $1::text || '/' || r.service || '/' || r.environment AS route_key, r.service, r.environment,
                row_number() OVER (ORDER BY r.service, r.environment) AS n
           FROM r),
       ev AS MATERIALIZED (
         SELECT q.event_id, q.route_key, q.n,
                ${jsonbSet('$3::jsonb', [
                  ['{id}', 'q.event_id'],
                  ['{subject}', 'q.route_key'],
                  ['{data,service}', 'q.service'],
                  ['{data,environment}', 'q.environment'],
                  ['{changesetsize}', '(SELECT count(*) FROM q)'],
                ])} AS event
           FROM q),
       -- Counted, so that every row is locked, and every event built, before the clock is taken.
       locked AS MATERIALIZED (
         SELECT (SELECT count(*) FROM t) AS tenants, (SELECT count(*) FROM s) AS services,
                (SELECT count(*) FROM ev) AS routes, (SELECT count(*) FROM k) AS keys),
       ${takeRevisions('1', '(SELECT routes FROM locked) > 0')},
       ${outboxRows({
         eventId: 'ev.event_id',
         routeKey: 'ev.route_key',
         eventType: '$2',
         event: 'ev.event',
         revision: 'c.revision',
         tenantId: 'SELECT id FROM t',
         from: 'ev, c ORDER BY ev.n',
       })},
       -- The change set's history: a deletion version per route, and the set (none without routes).
       v AS (
         INSERT INTO route_versions (tenant_id, tenant, service, environment, revision, at, op)
         SELECT (SELECT id FROM t), $1, q.service, q.environment, c.revision, c.at, 'delete' FROM q, c),
       cs AS (
         INSERT INTO change_sets (revision, at, by, request_id, client_address, description, size, tenant_ids, tenants)
         SELECT c.revision, c.at, $5::jsonb, $6, $7, 'tenant ' || $1 || ' deleted', (SELECT routes FROM locked), ARRAY[(SELECT id FROM t)], ARRAY[$1::text] FROM c),
       taken AS (SELECT (SELECT routes FROM locked) = 0 OR EXISTS (SELECT 1 FROM c) AS ok),
       d AS (DELETE FROM endpoints e USING r, taken WHERE e.id = r.id AND taken.ok),
       dt AS (DELETE FROM tenants x USING t, taken WHERE x.id = t.id AND taken.ok RETURNING x.id)
       SELECT (SELECT count(*) FROM t)::int AS tenants, (SELECT count(*) FROM dt)::int AS deleted, (SELECT id FROM dt) AS tenant_id,
              (SELECT routes FROM locked)::int AS routes, (SELECT revision FROM c)::text AS revision, (SELECT pg_notify($4, revision::text) FROM c) AS notified`,
      [slug, template.type, JSON.stringify(template), OUTBOX_CHANNEL, ...changeOriginParams(origin)],
    );
    if (!row || row.tenants === 0) return undefined;
    if (row.deleted === 0) throw new Error('the revision clock is missing: has the database been migrated?');
    return { tenantId: row.tenant_id as string, routes: row.routes, revision: row.revision === null ? null : Number(row.revision) };
  }
}
