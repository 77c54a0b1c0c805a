import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import { parseRouteKey, routeEvent, singleEndpoint, type RouteEvent, type RouteEventData } from '@tm/contracts';

/** One route of a fixture change set: a put of a single-URL route, or (url null) a deletion. */
export interface FixtureChange {
  /** `tenant/service/environment`. */
  route: string;
  url: string | null;
}

/** What the fixture committed: the change set's revision, its time and its events (in the order given). */
export interface FixtureChangeSet {
  revision: number;
  at: Date;
  events: RouteEvent[];
}

/** The outbox channel (as @tm/persistence's OUTBOX_CHANNEL: this lib does not depend on it). */
const OUTBOX_CHANNEL = 'tm_outbox';

/**
 * TEST FIXTURE, not the product's write path: commits ONE change set of many routes in one
 * transaction, as the command API's write store does (apps/command-api/src/store/write-store.ts),
 * for tests of what lies downstream of the outbox until `POST /v1/changes` exists. One new revision R
 * from the clock; each put upserts its tenant, service and endpoint (a single URL: no stored policy,
 * its health from R) and each deletion deletes its endpoint; one outbox row per route, all at R, the
 * CloudEvent with `data.revision` R, `tenantid`, `changesetsize` and the endpoints with their health
 * revisions; the relay's and the watch's notification. Rows are written in the order given (a test may
 * give them out of route order). A deletion of a route that does not exist fails the whole set.
 */
export async function commitChangeSetFixture(db: Client, changes: readonly FixtureChange[]): Promise<FixtureChangeSet> {
  if (changes.length === 0) throw new Error('a change set changes at least one route');
  await db.query('BEGIN');
  try {
    const { rows } = await db.query<{ revision: string; at: Date }>('UPDATE store_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision, clock_timestamp() AS at');
    const revision = Number(rows[0]?.revision);
    const at = rows[0]?.at as Date;
    const events: RouteEvent[] = [];
    for (const change of changes) {
      const id = parseRouteKey(change.route);
      if (!id) throw new Error(`not a route key: ${change.route}`);
      if (change.url !== null) {
        await db.query('INSERT INTO tenants (slug) VALUES ($1) ON CONFLICT DO NOTHING', [id.tenant]);
        await db.query('INSERT INTO services (tenant_id, name) SELECT id, $2 FROM tenants WHERE slug = $1 ON CONFLICT DO NOTHING', [id.tenant, id.service]);
      }
      const tenantId = (await db.query<{ id: string }>('SELECT id FROM tenants WHERE slug = $1', [id.tenant])).rows[0]?.id;
      const routeRow = `FROM services s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = $1 AND s.name = $2`;
      let data: RouteEventData;
      if (change.url === null) {
        const deleted = await db.query(`DELETE FROM endpoints e USING services s, tenants t WHERE s.id = e.service_id AND t.slug = $1 AND s.name = $2 AND t.id = s.tenant_id AND e.environment = $3`, [
          id.tenant,
          id.service,
          id.environment,
        ]);
        if (deleted.rowCount !== 1) throw new Error(`no route ${change.route} to delete`);
        data = { ...id, url: null, revision, endpoints: [], healthCheck: null };
      } else {
        await db.query(
          `INSERT INTO endpoints (service_id, environment, url, policy, health_revisions, revision, created_at, updated_at)
           SELECT s.id, $3, $4, NULL, NULL, $5, $6, $6 ${routeRow}
           ON CONFLICT (service_id, environment) DO UPDATE
             SET url = EXCLUDED.url, policy = NULL, health_revisions = NULL, revision = EXCLUDED.revision, updated_at = EXCLUDED.updated_at`,
          [id.tenant, id.service, id.environment, change.url, revision, at],
        );
        data = { ...id, url: change.url, revision, endpoints: [{ ...singleEndpoint(change.url), healthRevision: revision }], healthCheck: null };
      }
      const event = routeEvent(randomUUID(), at, data, tenantId, changes.length);
      await db.query('INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        event.id,
        event.subject,
        event.type,
        JSON.stringify(event),
        revision,
        at,
      ]);
      events.push(event);
    }
    await db.query('SELECT pg_notify($1, $2)', [OUTBOX_CHANNEL, String(revision)]);
    await db.query('COMMIT');
    return { revision, at, events };
  } catch (e) {
    await db.query('ROLLBACK');
    throw e;
  }
}
