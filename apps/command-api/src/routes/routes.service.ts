import { Inject, Injectable } from '@nestjs/common';
import type { Counter, Registry } from 'prom-client';
import { DataSource, type EntityManager } from 'typeorm';
import { endpointConfigs, isSingleUrlPolicy, primaryEndpoint, type RouteId, type TrafficPolicy } from '@tm/contracts';
import { quotaRefusals } from '@tm/limits';
import { POLICY_COLUMNS, routePolicy } from '@tm/persistence';
import { METRICS_REGISTRY, type FieldError } from '@tm/platform';
import { CommandApiConfig } from '../config';
import { AuditLog } from '../audit/audit-log';
import type { ChangeOrigin } from '../store/change-origin';
import { WRITE_HOOKS, type WriteHooks } from '../store/write-hooks';
import { WriteStore, type CurrentEndpoint, type EndpointRow, type QuotaRefusal, type RouteWrite, type TenantQuota } from '../store/write-store';
import { decodeCursor, encodeCursor } from './cursor';
import type { RouteListResponse, RouteResponse } from './dto/route.response';
import { invalidPolicy, type ParsedPolicy } from './policy';
import { checkPreconditions, type Preconditions, unconditional } from './preconditions';
import { routeNotFound, tenantQuotaExceeded } from './route.errors';

interface RouteRow {
  tenant: string;
  service: string;
  environment: string;
  url: string;
  policy: TrafficPolicy | null;
  health_revisions: Record<string, number> | null;
  revision: string;
  created_at: Date;
  updated_at: Date;
}

type RowOf<T> = Omit<T, 'revision'> & { revision: string | number };

export function toRoute(row: RowOf<RouteRow>): RouteResponse {
  const { endpoints, healthCheck } = routePolicy(row);
  return {
    tenant: row.tenant,
    service: row.service,
    environment: row.environment,
    url: row.url,
    endpoints: endpointConfigs(endpoints),
    healthCheck,
    revision: Number(row.revision),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** The route a write answers with: its id, what it set, and the row's revision and times. */
function written(id: RouteId, write: RouteWrite, row: { revision: string | number; created_at: Date; updated_at: Date }): RouteResponse {
  return toRoute({ ...id, ...row, url: write.url, policy: write.stored, health_revisions: null });
}

/** What a PUT of `policy` writes (see RouteWrite). */
export function routeWrite(policy: TrafficPolicy): RouteWrite {
  return { url: primaryEndpoint(policy.endpoints).url, stored: isSingleUrlPolicy(policy) ? null : policy, policy };
}

/** JSON values equal as jsonb compares them (object keys in any order). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Whether the route as it is already says what `write` would set. */
export function unchanged(current: CurrentEndpoint, write: RouteWrite): boolean {
  return current.url === write.url && sameJson(current.policy, write.stored);
}

/** Whether the route as it is already has the health check `write` sets (a stored policy is normalised, so equal means the same). */
export function sameHealthCheck(current: CurrentEndpoint | undefined, write: RouteWrite): boolean {
  return current !== undefined && sameJson(current.policy?.healthCheck ?? null, write.policy.healthCheck);
}

function isRefusal<T extends object>(result: T | QuotaRefusal): result is QuotaRefusal {
  return 'refused' in result && typeof result.refused === 'string';
}

const SELECT_ROUTE = `
  SELECT t.slug AS tenant, s.name AS service, e.environment, e.url, ${POLICY_COLUMNS}, e.revision, e.created_at, e.updated_at
    FROM endpoints e
    JOIN services s ON s.id = e.service_id
    JOIN tenants t ON t.id = s.tenant_id`;

/** Compare-and-set tries of a write before it queues for the route's row lock. */
const OPTIMISTIC_ATTEMPTS = 3;

export interface PutResult {
  route: RouteResponse;
  /** The route did not exist before. */
  created: boolean;
  /** The write changed the route (a change set of one at route.revision); not when it set what the route had. */
  changed: boolean;
  /** The id of the tenant the write created (a PUT into a tenant that did not exist). */
  createdTenant?: string;
}

export interface ListFilter {
  tenant?: string;
  service?: string;
  limit: number;
  cursor?: string;
}

/** Routes: create-or-update, read, delete, list (docs/guarantees.md, "Command API"). */
@Injectable()
export class RoutesService {
  private readonly quota: TenantQuota;
  private readonly refusals: Counter<'limit' | 'tenant'>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly store: WriteStore,
    @Inject(WRITE_HOOKS) private readonly hooks: WriteHooks,
    private readonly audit: AuditLog,
    config: CommandApiConfig,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.quota = { routes: config.TENANT_MAX_ROUTES, probedEndpoints: config.TENANT_MAX_PROBED_ENDPOINTS };
    this.refusals = quotaRefusals(registry);
  }

  /**
   * Sets the route's policy (and its URL, the policy's first choice), creating its tenant and service
   * when absent, with its outbox row, in one transaction. Setting what it already has changes
   * nothing: same revision, no event.
   *
   * Without preconditions the write is decided and applied by one statement (WriteStore). With
   * them it is decided on the route as committed, then applied only if the route is still in that
   * state: when another write got there first, it is decided again on the new state. After a few
   * such losses the write is decided holding the route's row lock, so a busy route cannot starve it.
   *
   * The tenant's quotas are checked by the statement that applies the write (WriteStore): a create
   * beyond TENANT_MAX_ROUTES, or a write that adds probed endpoints beyond
   * TENANT_MAX_PROBED_ENDPOINTS, is a 409 with nothing written. A health check timeout above
   * PROBE_MAX_TIMEOUT_SECONDS (`overCap`) is decided on the route as committed: it passes only when
   * the route already has that health check.
   */
  async put(id: RouteId, parsed: ParsedPolicy, preconditions: Preconditions, origin: ChangeOrigin): Promise<PutResult> {
    const result = await this.putOnce(id, parsed, preconditions, origin);
    if (result.createdTenant) {
      await this.audit.record({ action: 'tenant-created', tenant: id.tenant, tenantId: result.createdTenant, origin, revision: result.route.revision, detail: { by: 'a route PUT' } });
    }
    if (result.changed) this.audit.changeSet(origin, result.route.revision, [id.tenant], 1);
    return result;
  }

  private putOnce(id: RouteId, parsed: ParsedPolicy, preconditions: Preconditions, origin: ChangeOrigin): Promise<PutResult> {
    const write = routeWrite(parsed.policy);
    return this.store.retrying(async () => {
      if (unconditional(preconditions) && !parsed.overCap) {
        const row = await this.store.updateEndpoint(this.dataSource.manager, id, undefined, write, this.quota.probedEndpoints, origin);
        if (row) return this.updated(id, write, row);
        return this.create(this.dataSource.manager, id, write, origin);
      }
      return this.decideAndApply((manager, lock) => this.tryPut(manager, id, write, preconditions, lock, parsed.overCap, origin));
    });
  }

  /** One decision and its compare-and-set; undefined when the route moved on meanwhile. */
  private async tryPut(
    manager: EntityManager,
    id: RouteId,
    write: RouteWrite,
    preconditions: Preconditions,
    lock: boolean,
    overCap: FieldError | undefined,
    origin: ChangeOrigin,
  ): Promise<PutResult | undefined> {
    const current = await this.store.findEndpoint(manager, id, lock);
    checkPreconditions(preconditions, current ? Number(current.revision) : undefined);
    if (overCap && !sameHealthCheck(current, write)) throw invalidPolicy([overCap]);
    if (current && unchanged(current, write)) return { route: toRoute({ ...id, ...current }), created: false, changed: false };
    if (!current) return this.create(manager, id, write, origin, lock);
    await this.hooks.beforeApply?.(id, lock);
    const row = await this.store.updateEndpoint(manager, id, current, write, this.quota.probedEndpoints, origin);
    return row ? this.updated(id, write, row) : undefined;
  }

  /** Creates the route (a concurrent create of it fails with a unique violation: retried whole). */
  private async create(manager: EntityManager, id: RouteId, write: RouteWrite, origin: ChangeOrigin, lock = false): Promise<PutResult> {
    await this.hooks.beforeApply?.(id, lock);
    const row = await this.store.createEndpoint(manager, id, write, this.quota, origin);
    if (isRefusal(row)) throw this.refused(id.tenant, row);
    return { route: written(id, write, row), created: true, changed: true, ...(row.created_tenant ? { createdTenant: row.created_tenant } : {}) };
  }

  private updated(id: RouteId, write: RouteWrite, row: (EndpointRow & { changed: boolean }) | QuotaRefusal): PutResult {
    if (isRefusal(row)) throw this.refused(id.tenant, row);
    return { route: written(id, write, row), created: false, changed: row.changed };
  }

  /** The 409 of a quota, counted. */
  private refused(tenant: string, refusal: QuotaRefusal): Error {
    this.refusals.inc({ limit: refusal.refused, tenant });
    return tenantQuotaExceeded(tenant, refusal, refusal.refused === 'routes' ? this.quota.routes : this.quota.probedEndpoints);
  }

  /** Deletes the route's endpoint with its outbox row; returns the deletion's revision. Decided and applied as `put`. */
  async delete(id: RouteId, preconditions: Preconditions, origin: ChangeOrigin): Promise<number> {
    const revision = await this.deleteOnce(id, preconditions, origin);
    this.audit.changeSet(origin, revision, [id.tenant], 1);
    return revision;
  }

  private deleteOnce(id: RouteId, preconditions: Preconditions, origin: ChangeOrigin): Promise<number> {
    return this.store.retrying(async () => {
      if (unconditional(preconditions)) {
        const revision = await this.store.deleteEndpoint(this.dataSource.manager, id, undefined, origin);
        if (revision === undefined) throw routeNotFound(id);
        return revision;
      }
      return this.decideAndApply((manager, lock) => this.tryDelete(manager, id, preconditions, lock, origin));
    });
  }

  /**
   * Runs a conditional write's decision and compare-and-set (`attempt`, undefined when the route
   * moved on meanwhile) up to OPTIMISTIC_ATTEMPTS times, then once more holding the route's row
   * lock in a transaction, where it cannot lose.
   */
  private async decideAndApply<T>(attempt: (manager: EntityManager, lock: boolean) => Promise<T | undefined>): Promise<T> {
    for (let i = 1; i <= OPTIMISTIC_ATTEMPTS; i++) {
      const result = await attempt(this.dataSource.manager, false);
      if (result !== undefined) return result;
    }
    return this.dataSource.transaction('READ COMMITTED', async (tx) => {
      const result = await attempt(tx, true);
      if (result === undefined) throw new Error('a locked route changed under its lock');
      return result;
    });
  }

  private async tryDelete(manager: EntityManager, id: RouteId, preconditions: Preconditions, lock: boolean, origin: ChangeOrigin): Promise<number | undefined> {
    const current = await this.store.findEndpoint(manager, id, lock);
    if (!current) throw routeNotFound(id);
    checkPreconditions(preconditions, Number(current.revision));
    await this.hooks.beforeApply?.(id, lock);
    return this.store.deleteEndpoint(manager, id, current, origin);
  }

  async get(id: RouteId): Promise<RouteResponse> {
    const row = await this.store.findEndpoint(this.dataSource.manager, id);
    if (!row) throw routeNotFound(id);
    return toRoute({ ...id, ...row });
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
}
