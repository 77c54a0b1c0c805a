import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { routeEvent, type RouteEventData, type RouteId } from '@tm/contracts';
import { OUTBOX_CHANNEL, returning } from '@tm/persistence';

/**
 * PostgreSQL errors after which a write is worth running again: serialization and deadlock
 * failures, and the unique / foreign-key races of concurrent creates and tenant deletes.
 */
const RETRYABLE = new Set(['40001', '40P01', '23505', '23503']);
const MAX_ATTEMPTS = 5;

function sqlState(e: unknown): string | undefined {
  const err = e as { code?: unknown; driverError?: { code?: unknown } };
  const code = err?.driverError?.code ?? err?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The database's clock time as CloudEvents writes it (RFC 3339, UTC, milliseconds), as `Date.toISOString` does. */
const ISO_TIME = `to_char(c.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Takes the next revision, only once `ready` (a condition on the CTEs before it) holds: a change
 * that will not happen takes none, so revisions have no gaps. The clock row stays locked until
 * commit, so revisions become visible in the order they were taken (G2).
 */
function takeRevisionIf(ready: string): string {
  return `c AS (UPDATE store_revision SET revision = revision + 1 WHERE id = 1 AND ${ready} RETURNING revision, clock_timestamp() AS at)`;
}

/**
 * The outbox row of a route change (G1, G7), written by the statement that makes the change, from
 * the revision `c` took: the event is built in the app with revision 0 and gets its revision and
 * time from `c`. Parameters $1..$5: event id, route key, event type, payload, the relay's channel.
 */
const OUTBOX_FROM_CLOCK = `o AS (
    INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at)
    SELECT $1::uuid, $2, $3,
           jsonb_set(jsonb_set($4::jsonb, '{data,revision}', to_jsonb(c.revision)), '{time}', to_jsonb(${ISO_TIME})),
           c.revision, c.at
      FROM c)`;

function eventParams(id: RouteId, url: string | null): unknown[] {
  const event = routeEvent(randomUUID(), new Date(0), { ...id, url, revision: 0 });
  return [event.id, event.subject, event.type, JSON.stringify(event), OUTBOX_CHANNEL];
}

/** The endpoint a write was decided on, and the revision it had then. */
export interface DecidedEndpoint {
  id: string;
  revision: string;
}

/**
 * The CTE `cur` that locks the endpoint a write applies to, and its parameters from `$first`:
 * the endpoint the write was decided on if it is still at that revision, or (undecided) the
 * route's endpoint as it is now. Either way the lock is on the row's latest version, and `cur` is
 * empty when the endpoint is gone or moved on.
 */
function lockEndpoint(id: RouteId, decided: DecidedEndpoint | undefined, lock: string, first: number): [string, unknown[]] {
  if (decided) {
    return [
      `cur AS (SELECT id, url, revision, created_at, updated_at FROM endpoints WHERE id = $${first} AND revision = $${first + 1} ${lock})`,
      [decided.id, decided.revision],
    ];
  }
  return [
    `cur AS (
       SELECT e.id, e.url, e.revision, e.created_at, e.updated_at
         FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id
        WHERE t.slug = $${first} AND s.name = $${first + 1} AND e.environment = $${first + 2}
        ${lock} OF e)`,
    [id.tenant, id.service, id.environment],
  ];
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

  constructor(private readonly dataSource: DataSource) {}

  /** Runs `work` again (a few times) when a race made it fail: see RETRYABLE. */
  async retrying<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (e) {
        const state = sqlState(e);
        if (attempt >= MAX_ATTEMPTS || state === undefined || !RETRYABLE.has(state)) throw e;
        this.logger.debug(`write retried after SQLSTATE ${state} (attempt ${attempt})`);
      }
    }
  }

  /** Runs `work` in one READ COMMITTED transaction, again (a few times) when a race made it fail. */
  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.retrying(() => this.dataSource.transaction('READ COMMITTED', work));
  }

  /** The route's endpoint, as committed now; `lock` (inside a transaction) queues for its row lock. */
  async findEndpoint(manager: EntityManager, id: RouteId, lock = false): Promise<CurrentEndpoint | undefined> {
    const [row] = await manager.query<CurrentEndpoint[]>(
      `SELECT e.id, e.url, e.revision, e.created_at, e.updated_at
         FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id
        WHERE t.slug = $1 AND s.name = $2 AND e.environment = $3${lock ? ' FOR NO KEY UPDATE OF e' : ''}`,
      [id.tenant, id.service, id.environment],
    );
    return row;
  }

  /**
   * Creates the route's endpoint (and its tenant and service when absent) at the next revision,
   * with its outbox row. The tenant and service rows are locked before the clock, in the order a
   * tenant deletion locks them, so the two wait for each other instead of deadlocking. A
   * concurrent create of the same route fails with a unique violation (23505): decide again.
   */
  async createEndpoint(manager: EntityManager, id: RouteId, url: string): Promise<EndpointRow> {
    const [row] = await returning<EndpointRow>(
      manager,
      `WITH t AS (
         INSERT INTO tenants (slug) VALUES ($6) ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id),
       s AS (
         INSERT INTO services (tenant_id, name) SELECT t.id, $7 FROM t
         ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id),
       ${takeRevisionIf('EXISTS (SELECT 1 FROM s)')},
       w AS (
         INSERT INTO endpoints (service_id, environment, url, revision, created_at, updated_at)
         SELECT s.id, $8, $9, c.revision, c.at, c.at FROM s, c RETURNING revision, created_at, updated_at),
       ${OUTBOX_FROM_CLOCK}
       SELECT w.revision, w.created_at, w.updated_at, pg_notify($5, w.revision::text) FROM w`,
      [...eventParams(id, url), id.tenant, id.service, id.environment, url],
    );
    if (!row) throw new Error('the revision clock is missing: has the database been migrated?');
    return row;
  }

  /**
   * Sets the endpoint's URL at the next revision, with its outbox row. With `decided`: only if the
   * endpoint is still at the revision the decision saw. Without: whatever the route holds now
   * (an unconditional PUT, decided and applied in one statement). Returns the endpoint and whether
   * it changed (not when it already had the URL); undefined, with nothing changed and no revision
   * taken, when the route is gone or moved on.
   */
  async updateEndpoint(
    manager: EntityManager,
    id: RouteId,
    decided: DecidedEndpoint | undefined,
    url: string,
  ): Promise<(EndpointRow & { changed: boolean }) | undefined> {
    const [target, params] = lockEndpoint(id, decided, 'FOR NO KEY UPDATE', 7);
    const [row] = await returning<EndpointRow & { changed: boolean }>(
      manager,
      `WITH ${target},
       ${takeRevisionIf('EXISTS (SELECT 1 FROM cur WHERE cur.url <> $6)')},
       w AS (
         UPDATE endpoints e SET url = $6, revision = c.revision, updated_at = c.at FROM c, cur
          WHERE e.id = cur.id RETURNING e.revision, e.created_at, e.updated_at),
       ${OUTBOX_FROM_CLOCK}
       SELECT true AS changed, w.revision, w.created_at, w.updated_at, pg_notify($5, w.revision::text)::text AS notified FROM w
       UNION ALL
       SELECT false, cur.revision, cur.created_at, cur.updated_at, NULL FROM cur WHERE cur.url = $6`,
      [...eventParams(id, url), url, ...params],
    );
    return row;
  }

  /**
   * Deletes the endpoint at the next revision, with its outbox row; with `decided`, only if it is
   * still at the revision the decision saw. Returns the deletion's revision, or undefined (nothing
   * changed) when the route is gone or moved on.
   */
  async deleteEndpoint(manager: EntityManager, id: RouteId, decided: DecidedEndpoint | undefined): Promise<number | undefined> {
    const [target, params] = lockEndpoint(id, decided, 'FOR UPDATE', 6);
    const [row] = await returning<{ revision: string }>(
      manager,
      `WITH ${target},
       ${takeRevisionIf('EXISTS (SELECT 1 FROM cur)')},
       d AS (DELETE FROM endpoints e USING c, cur WHERE e.id = cur.id),
       ${OUTBOX_FROM_CLOCK}
       SELECT c.revision, pg_notify($5, c.revision::text)::text AS notified FROM c`,
      [...eventParams(id, null), ...params],
    );
    return row ? Number(row.revision) : undefined;
  }

  /**
   * Takes the next `count` revisions, for a transaction that changes many routes. The clock row
   * stays locked until commit (G2). Returns the last one and the database's clock time.
   */
  async takeRevisions(tx: EntityManager, count: number): Promise<{ last: number; at: Date }> {
    const [row] = await returning<{ revision: string; at: Date }>(
      tx,
      'UPDATE store_revision SET revision = revision + $1 WHERE id = 1 RETURNING revision, clock_timestamp() AS at',
      [count],
    );
    if (!row) throw new Error('the revision clock is missing: has the database been migrated?');
    return { last: Number(row.revision), at: row.at };
  }

  /**
   * Writes one outbox row per event (exactly one per route change, G7) and wakes the relay on
   * commit. One statement with array parameters, so a tenant deletion of any size fits.
   */
  async appendEvents(tx: EntityManager, events: RouteEventData[], at: Date): Promise<void> {
    if (events.length === 0) return;
    const ids: string[] = [];
    const keys: string[] = [];
    const types: string[] = [];
    const payloads: string[] = [];
    const revisions: number[] = [];
    for (const data of events) {
      const event = routeEvent(randomUUID(), at, data);
      ids.push(event.id);
      keys.push(event.subject);
      types.push(event.type);
      payloads.push(JSON.stringify(event));
      revisions.push(data.revision);
    }
    await tx.query(
      `WITH o AS (
         INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at)
         SELECT e.id, e.key, e.type, e.payload::jsonb, e.revision, $6
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS e (id, key, type, payload, revision))
       SELECT pg_notify($7, $8)`,
      [ids, keys, types, payloads, revisions, at, OUTBOX_CHANNEL, String(revisions[revisions.length - 1])],
    );
  }
}
