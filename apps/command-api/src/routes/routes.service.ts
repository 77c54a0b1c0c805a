import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { routeKey, type RouteId } from '@tm/contracts';
import { returning } from '@tm/persistence';
import { ROUTE_LOCK_SEED, TAKE_REVISION, WriteStore } from '../store/write-store';
import { decodeCursor, encodeCursor } from './cursor';
import type { RouteListResponse, RouteResponse } from './dto/route.response';
import { checkPreconditions, type Preconditions } from './preconditions';
import { routeNotFound } from './route.errors';

interface RouteRow {
  tenant: string;
  service: string;
  environment: string;
  url: string;
  revision: string;
  created_at: Date;
  updated_at: Date;
}

function toRoute(row: Omit<RouteRow, 'revision'> & { revision: string | number }): RouteResponse {
  return {
    tenant: row.tenant,
    service: row.service,
    environment: row.environment,
    url: row.url,
    revision: Number(row.revision),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

const SELECT_ROUTE = `
  SELECT t.slug AS tenant, s.name AS service, e.environment, e.url, e.revision, e.created_at, e.updated_at
    FROM endpoints e
    JOIN services s ON s.id = e.service_id
    JOIN tenants t ON t.id = s.tenant_id`;

export interface PutResult {
  route: RouteResponse;
  /** The route did not exist before. */
  created: boolean;
}

export interface ListFilter {
  tenant?: string;
  service?: string;
  limit: number;
  cursor?: string;
}

/** Routes: create-or-update, read, delete, list (CONTRACT.md, "Command API"). */
@Injectable()
export class RoutesService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly store: WriteStore,
  ) {}

  /**
   * Sets the route's URL, creating its tenant and service when absent, with its outbox row, in one
   * transaction. Setting the URL it already has changes nothing: same revision, no event.
   */
  put(id: RouteId, url: string, preconditions: Preconditions): Promise<PutResult> {
    return this.store.transaction(async (tx) => {
      const serviceId = await this.lockAndFindService(tx, id);
      const [current] = await tx.query<{ id: string; url: string; revision: string; created_at: Date; updated_at: Date }[]>(
        'SELECT id, url, revision, created_at, updated_at FROM endpoints WHERE service_id = $1 AND environment = $2 FOR UPDATE',
        [serviceId, id.environment],
      );
      checkPreconditions(preconditions, current ? Number(current.revision) : undefined);
      if (current && current.url === url) {
        return { route: toRoute({ ...id, ...current }), created: false };
      }
      // Take the next revision and apply it in one statement; the clock stays locked until commit.
      const [row] = await returning<{ revision: string; created_at: Date; updated_at: Date }>(
        tx,
        current
          ? `WITH c AS (${TAKE_REVISION})
             UPDATE endpoints e SET url = $1, revision = c.revision, updated_at = c.at FROM c
              WHERE e.id = $2 RETURNING e.revision, e.created_at, e.updated_at`
          : `WITH c AS (${TAKE_REVISION})
             INSERT INTO endpoints (service_id, environment, url, revision, created_at, updated_at)
             SELECT $2, $3, $1, c.revision, c.at, c.at FROM c RETURNING revision, created_at, updated_at`,
        current ? [url, current.id] : [url, serviceId, id.environment],
      );
      if (!row) throw new Error('the revision clock is missing: has the database been migrated?');
      const route = toRoute({ ...id, url, ...row });
      await this.store.hooks.afterEndpointChange?.(id, tx);
      await this.store.appendEvents(tx, [{ ...id, url, revision: route.revision }], row.updated_at);
      return { route, created: current === undefined };
    });
  }

  /** Deletes the route's endpoint with its outbox row; returns the deletion's revision. */
  delete(id: RouteId, preconditions: Preconditions): Promise<number> {
    return this.store.transaction(async (tx) => {
      await this.store.lockRoute(tx, routeKey(id));
      const [current] = await tx.query<{ id: string; revision: string }[]>(
        `SELECT e.id, e.revision
           FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id
          WHERE t.slug = $1 AND s.name = $2 AND e.environment = $3
          FOR UPDATE OF e`,
        [id.tenant, id.service, id.environment],
      );
      if (!current) throw routeNotFound(id);
      checkPreconditions(preconditions, Number(current.revision));
      const { last: revision, at } = await this.store.takeRevisions(tx, 1);
      await tx.query('DELETE FROM endpoints WHERE id = $1', [current.id]);
      await this.store.hooks.afterEndpointChange?.(id, tx);
      await this.store.appendEvents(tx, [{ ...id, url: null, revision }], at);
      return revision;
    });
  }

  async get(id: RouteId): Promise<RouteResponse> {
    return this.read(this.dataSource.manager, id);
  }

  /** A page of routes in (tenant, service, environment) order; the cursor is the last key of a page. */
  async list(filter: ListFilter): Promise<RouteListResponse> {
    const after = filter.cursor !== undefined ? decodeCursor(filter.cursor) : undefined;
    const rows = await this.dataSource.query<RouteRow[]>(
      `${SELECT_ROUTE}
        WHERE ($1::text IS NULL OR t.slug = $1)
          AND ($2::text IS NULL OR s.name = $2)
          AND ($3::text IS NULL OR (t.slug, s.name, e.environment) > ($3, $4, $5))
        ORDER BY t.slug, s.name, e.environment
        LIMIT $6`,
      [
        filter.tenant ?? null,
        filter.service ?? null,
        after?.tenant ?? null,
        after?.service ?? null,
        after?.environment ?? null,
        filter.limit + 1,
      ],
    );
    const items = rows.slice(0, filter.limit).map(toRoute);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > filter.limit && last ? encodeCursor(last) : null };
  }

  private async read(manager: EntityManager, id: RouteId): Promise<RouteResponse> {
    const [row] = await manager.query<RouteRow[]>(
      `${SELECT_ROUTE} WHERE t.slug = $1 AND s.name = $2 AND e.environment = $3`,
      [id.tenant, id.service, id.environment],
    );
    if (!row) throw routeNotFound(id);
    return toRoute(row);
  }

  /**
   * Takes the route's write lock and finds its service (one round trip when it exists), creating
   * the tenant and the service when absent. The service row is key-share locked before the clock
   * is taken: a tenant deletion (which locks services before the clock) then waits for this write,
   * or this write for it, instead of the two deadlocking.
   */
  private async lockAndFindService(tx: EntityManager, id: RouteId): Promise<string> {
    const [found] = await tx.query<{ service_id: string | null }[]>(
      `SELECT pg_advisory_xact_lock(hashtextextended($1, ${ROUTE_LOCK_SEED})),
              (SELECT s.id FROM services s JOIN tenants t ON t.id = s.tenant_id
                WHERE t.slug = $2 AND s.name = $3 FOR KEY SHARE OF s) AS service_id`,
      [routeKey(id), id.tenant, id.service],
    );
    if (found?.service_id) return found.service_id;
    await tx.query('INSERT INTO tenants (slug) VALUES ($1) ON CONFLICT (slug) DO NOTHING', [id.tenant]);
    const [tenant] = await tx.query<{ id: string }[]>('SELECT id FROM tenants WHERE slug = $1', [id.tenant]);
    if (!tenant) throw Object.assign(new Error('tenant vanished while being created'), { code: '40001' });
    await tx.query('INSERT INTO services (tenant_id, name) VALUES ($1, $2) ON CONFLICT (tenant_id, name) DO NOTHING', [
      tenant.id,
      id.service,
    ]);
    const [service] = await tx.query<{ id: string }[]>('SELECT id FROM services WHERE tenant_id = $1 AND name = $2', [
      tenant.id,
      id.service,
    ]);
    if (!service) throw Object.assign(new Error('service vanished while being created'), { code: '40001' });
    return service.id;
  }
}
