import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { RouteId } from '@tm/contracts';
import { OUTBOX_CHANNEL, preparedQuery } from '@tm/persistence';
import type { ChangeOrigin } from './change-origin';
import { ISO_TIME, jsonbSet, type CurrentEndpoint, type RouteWrite } from './write-store';

/** A tenant a change set writes in, locked, with its counts (see TenantQuota). */
export interface LockedTenant {
  id: string;
  slug: string;
  route_count: number;
  probed_endpoint_count: number;
}

/** A route a change set names, locked as it is now. */
export interface LockedRoute extends CurrentEndpoint {
  tenant: string;
  service: string;
  environment: string;
}

/** One change of a change set as the store applies it: decided, in route-key order. */
export interface StoredChange {
  op: 'put' | 'delete';
  id: RouteId;
  /** The route's tenant (locked). */
  tenantId: string;
  /** The route's endpoint row (locked); null: the put creates the route. */
  endpointId: string | null;
  /** What a put sets. */
  write?: RouteWrite;
  /** The health revisions an update keeps, by endpoint id (the others start at the set's revision). */
  kept?: Record<string, number>;
  /** An update's route createdAt. */
  createdAt?: Date;
  /** The change's CloudEvent but for revision, time and tenant id (routeEvent with revision 0). */
  event: unknown;
}

/**
 * The statement that applies a decided change set (every row it changes locked by lockTenants and
 * lockRoutes, in the same transaction): one revision for every route, the endpoint rows, one outbox
 * row per route (in route-key order, each CloudEvent with `changesetsize`), the routes' versions and
 * the change set's row. $1: the changes (StoredChange as JSON rows); $2..$4: the origin; $5: the
 * description; $6: the relay's channel.
 */
const APPLY = `
  WITH ch AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
      n integer, op text, tenant_id uuid, tenant text, service text, environment text, endpoint_id uuid,
      url text, stored jsonb, policy jsonb, kept jsonb, created_at timestamptz, event jsonb)),
  c AS (UPDATE store_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision, clock_timestamp() AS at),
  sv AS (
    INSERT INTO services (tenant_id, name)
    SELECT DISTINCT tenant_id, service FROM ch WHERE op = 'put' AND endpoint_id IS NULL
    ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id, tenant_id, name),
  -- A put's health revisions: those it keeps, the others from the set's revision.
  pu AS MATERIALIZED (
    SELECT ch.n, ch.endpoint_id, ch.tenant_id, ch.service, ch.environment, ch.url, ch.stored, ch.policy,
           (SELECT COALESCE(jsonb_object_agg(e ->> 'id', COALESCE(ch.kept -> (e ->> 'id'), to_jsonb(c.revision))), '{}'::jsonb)
              FROM jsonb_array_elements(ch.policy -> 'endpoints') e) AS hr
      FROM ch, c WHERE ch.op = 'put'),
  ins AS (
    INSERT INTO endpoints (service_id, environment, url, policy, health_revisions, revision, created_at, updated_at)
    SELECT sv.id, pu.environment, pu.url, pu.stored, pu.hr, c.revision, c.at, c.at
      FROM pu JOIN sv ON sv.tenant_id = pu.tenant_id AND sv.name = pu.service, c
     WHERE pu.endpoint_id IS NULL),
  upd AS (
    UPDATE endpoints e SET url = pu.url, policy = pu.stored, health_revisions = pu.hr, revision = c.revision, updated_at = c.at
      FROM pu, c WHERE e.id = pu.endpoint_id),
  del AS (DELETE FROM endpoints e USING ch WHERE ch.op = 'delete' AND e.id = ch.endpoint_id),
  o AS (
    INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at)
    SELECT (ch.event ->> 'id')::uuid, ch.event ->> 'subject', ch.event ->> 'type',
           CASE WHEN ch.op = 'put'
                THEN jsonb_set(ev.base, '{data,endpoints}',
                       (SELECT jsonb_agg(n.e || jsonb_build_object('healthRevision', pu.hr -> (n.e ->> 'id')) ORDER BY n.i)
                          FROM jsonb_array_elements(pu.policy -> 'endpoints') WITH ORDINALITY n(e, i)))
                ELSE ev.base END,
           c.revision, c.at
      FROM ch LEFT JOIN pu ON pu.n = ch.n, c,
           LATERAL (SELECT ${jsonbSet('ch.event', [
             ['{data,revision}', 'c.revision'],
             ['{time}', ISO_TIME],
             ['{tenantid}', 'ch.tenant_id::text'],
             ['{changesetsize}', '(SELECT count(*) FROM ch)'],
           ])} AS base) ev
     ORDER BY ch.n),
  v AS (
    INSERT INTO route_versions (tenant_id, tenant, service, environment, revision, at, op, body, created, created_at)
    SELECT ch.tenant_id, ch.tenant, ch.service, ch.environment, c.revision, c.at, ch.op,
           CASE WHEN ch.op = 'put' THEN COALESCE(ch.stored, jsonb_build_object('url', ch.url)) END,
           ch.op = 'put' AND ch.endpoint_id IS NULL,
           CASE WHEN ch.op = 'put' THEN COALESCE(ch.created_at, c.at) END
      FROM ch, c),
  cs AS (
    INSERT INTO change_sets (revision, at, by, request_id, client_address, description, size, tenant_ids, tenants)
    SELECT c.revision, c.at, $2::jsonb, $3, $4, $5, (SELECT count(*) FROM ch), t.ids, t.slugs
      FROM c, (SELECT array_agg(x.tenant_id ORDER BY x.tenant) AS ids, array_agg(x.tenant ORDER BY x.tenant) AS slugs
                 FROM (SELECT DISTINCT tenant_id, tenant FROM ch) x) t)
  SELECT c.revision, c.at, pg_notify($6, c.revision::text)::text AS notified FROM c`;

/**
 * The statements of a change set of many routes (docs/changes.md), in one transaction of the
 * caller's (READ COMMITTED): lockTenants, lockRoutes, then (decided by the caller on what they
 * returned) apply. Rows are locked in one order by every writer: tenant rows first, in slug order
 * (a single-route write and a tenant deletion lock their tenant first too), then the routes' rows
 * in route-key order. So two overlapping sets wait for each other and never deadlock. The revision
 * clock is taken last, by apply, and held only until the commit that follows it.
 */
@Injectable()
export class ChangeSetStore {
  /**
   * Locks the tenants `slugs` (in slug order), creating those of `creating` that are absent (`created`:
   * those it created). A tenant deleted meanwhile is missing from the answer; the caller runs it again
   * (a create then makes it anew).
   */
  async lockTenants(manager: EntityManager, slugs: string[], creating: string[]): Promise<{ tenants: Map<string, LockedTenant>; created: LockedTenant[] }> {
    const created =
      creating.length === 0
        ? []
        : await preparedQuery<LockedTenant>(
            manager,
            `INSERT INTO tenants (slug) SELECT s FROM unnest($1::text[]) s ORDER BY s ON CONFLICT (slug) DO NOTHING RETURNING id, slug, route_count, probed_endpoint_count`,
            [creating],
          );
    const rows = await preparedQuery<LockedTenant>(
      manager,
      `SELECT id, slug, route_count, probed_endpoint_count FROM tenants WHERE slug = ANY ($1::text[]) ORDER BY slug FOR NO KEY UPDATE`,
      [slugs],
    );
    return { tenants: new Map(rows.map((r) => [r.slug, r])), created };
  }

  /** Locks the routes `ids` that exist, in route-key order; their tenants must be locked already. */
  async lockRoutes(manager: EntityManager, ids: RouteId[]): Promise<Map<string, LockedRoute>> {
    const rows = await preparedQuery<LockedRoute>(
      manager,
      `SELECT t.slug AS tenant, s.name AS service, e.environment, e.id, e.url, e.policy, e.health_revisions, e.revision, e.created_at, e.updated_at
         FROM unnest($1::text[], $2::text[], $3::text[]) AS k(tenant, service, environment)
         JOIN tenants t ON t.slug = k.tenant
         JOIN services s ON s.tenant_id = t.id AND s.name = k.service
         JOIN endpoints e ON e.service_id = s.id AND e.environment = k.environment
        ORDER BY t.slug, s.name, e.environment
        FOR NO KEY UPDATE OF e`,
      [ids.map((i) => i.tenant), ids.map((i) => i.service), ids.map((i) => i.environment)],
    );
    return new Map(rows.map((r) => [`${r.tenant}/${r.service}/${r.environment}`, r]));
  }

  /** The store's revision now. */
  async currentRevision(manager: EntityManager): Promise<number> {
    const [row] = await preparedQuery<{ revision: string }>(manager, 'SELECT revision FROM store_revision WHERE id = 1', []);
    if (!row) throw new Error('the revision clock is missing: has the database been migrated?');
    return Number(row.revision);
  }

  /** Applies `changes` (route-key order) at the next revision; returns it and its time. */
  async apply(manager: EntityManager, changes: StoredChange[], origin: ChangeOrigin, description: string | undefined): Promise<{ revision: number; at: Date }> {
    const rows = changes.map((c, n) => ({
      n,
      op: c.op,
      tenant_id: c.tenantId,
      tenant: c.id.tenant,
      service: c.id.service,
      environment: c.id.environment,
      endpoint_id: c.endpointId,
      url: c.write?.url ?? null,
      stored: c.write?.stored ?? null,
      policy: c.write?.policy ?? null,
      kept: c.kept ?? {},
      created_at: c.createdAt?.toISOString() ?? null,
      event: c.event,
    }));
    const [row] = await preparedQuery<{ revision: string; at: Date }>(manager, APPLY, [
      JSON.stringify(rows),
      JSON.stringify(origin.by),
      origin.requestId,
      origin.clientAddress,
      description ?? null,
      OUTBOX_CHANNEL,
    ]);
    if (!row) throw new Error('the revision clock is missing: has the database been migrated?');
    return { revision: Number(row.revision), at: row.at };
  }
}
