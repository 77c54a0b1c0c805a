import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Counter, Registry } from 'prom-client';
import { DataSource, type EntityManager } from 'typeorm';
import type { Principal } from '@tm/auth';
import { routeEvent, singleEndpoint, type TrafficPolicy } from '@tm/contracts';
import { quotaRefusals } from '@tm/limits';
import { METRICS_REGISTRY, ProblemException, type FieldError } from '@tm/platform';
import { AuditLog } from '../audit/audit-log';
import { CommandApiConfig } from '../config';
import { invalidPolicy } from '../routes/policy';
import { tenantQuotaExceeded } from '../routes/route.errors';
import { routeWrite, sameHealthCheck, sameJson, unchanged } from '../routes/routes.service';
import type { ChangeOrigin } from '../store/change-origin';
import { ChangeSetStore, type LockedRoute, type LockedTenant, type StoredChange } from '../store/change-set-store';
import { WRITE_HOOKS, type WriteHooks } from '../store/write-hooks';
import { WriteStore, type QuotaRefusal } from '../store/write-store';
import type { ParsedChange } from './change-set.parse';

export type ChangeResult = 'created' | 'updated' | 'deleted' | 'unchanged';

export interface ChangeSetAnswer {
  /** The set's revision; the store's current revision when it changed nothing. */
  revision: number;
  changes: { route: string; op: 'put' | 'delete'; result: ChangeResult; revision: number | null }[];
}

export interface ChangeConflict {
  route: string;
  /** The revision the change expected; null: expected absent (ifAbsent). */
  expected: number | null;
  /** The route's revision now; null: it does not exist. */
  actual: number | null;
}

/** 412: a compare failed; nothing was applied. */
export function changeConflicts(conflicts: ChangeConflict[], status: 409 | 412 = 412): ProblemException {
  const detail =
    status === 412
      ? `${conflicts.length} change(s) compared against a state the route is no longer in; nothing was applied`
      : `${conflicts.length} route(s) changed since; nothing was applied`;
  return new ProblemException(status, status === 412 ? 'Precondition Failed' : 'Conflict', detail, {
    code: status === 412 ? 'precondition_failed' : 'conflict',
    members: { conflicts },
  });
}

/** A change set's answer status: 201 when it created a route, else 200. */
export function changeSetStatus(answer: ChangeSetAnswer): 200 | 201 {
  return answer.changes.some((c) => c.result === 'created') ? 201 : 200;
}

/** Probed endpoints of a policy, as the database's probed_endpoints() counts them. */
function probedEndpoints(policy: TrafficPolicy | null): number {
  return policy?.healthCheck ? policy.endpoints.filter((e) => e.state !== 'disabled').length : 0;
}

/** The health revisions an update of `current` to `policy` keeps: those of endpoints with the same id and URL, under the same health check. */
function keptHealth(current: LockedRoute, policy: TrafficPolicy): Record<string, number> {
  const old = current.policy ?? { endpoints: [singleEndpoint(current.url)], healthCheck: null };
  const revisions = current.health_revisions ?? { default: Number(current.revision) };
  const kept: Record<string, number> = {};
  if (!sameJson(old.healthCheck ?? null, policy.healthCheck)) return kept;
  for (const e of policy.endpoints) {
    const revision = revisions[e.id];
    if (revision !== undefined && old.endpoints.some((o) => o.id === e.id && o.url === e.url)) kept[e.id] = revision;
  }
  return kept;
}

function eventOf(change: ParsedChange): unknown {
  const id = change.id;
  if (change.op === 'delete') return routeEvent(randomUUID(), new Date(0), { ...id, url: null, revision: 0, endpoints: [], healthCheck: null });
  const write = routeWrite(change.parsed.policy);
  return routeEvent(randomUUID(), new Date(0), {
    ...id,
    url: write.url,
    revision: 0,
    endpoints: write.policy.endpoints.map((e) => ({ ...e, healthRevision: 0 })),
    healthCheck: write.policy.healthCheck,
  });
}

/** A route key order: tenant, service, environment, as the database's "C" collation sorts them. */
function byRouteKey(a: ParsedChange, b: ParsedChange): number {
  const x = [a.id.tenant, a.id.service, a.id.environment];
  const y = [b.id.tenant, b.id.service, b.id.environment];
  for (let i = 0; i < 3; i++) {
    const [p, q] = [x[i] as string, y[i] as string];
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

/** How many times a set runs again after its tenants went (deleted) between its create and its lock. */
const TENANT_LOCK_ATTEMPTS = 3;

/**
 * Change sets (docs/changes.md): many routes, one revision, all or nothing. A set is decided on the
 * routes as they are under their row locks, then applied by one statement (ChangeSetStore), in one
 * transaction; a serialisation failure or deadlock runs the whole set again (WriteStore.retrying).
 */
@Injectable()
export class ChangesService {
  private readonly refusals: Counter<'limit' | 'tenant'>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly store: WriteStore,
    private readonly changeSets: ChangeSetStore,
    private readonly config: CommandApiConfig,
    @Inject(WRITE_HOOKS) private readonly hooks: WriteHooks,
    private readonly audit: AuditLog,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.refusals = quotaRefusals(registry);
  }

  /** Throws 403 naming the first tenant of `changes` the principal cannot write (in `tenant` too, for the audit log). */
  authorize(principal: Principal, changes: ParsedChange[]): void {
    principal.authorize('routes:write');
    for (const tenant of new Set(changes.map((c) => c.id.tenant))) {
      if (!principal.reaches(tenant)) {
        throw new ProblemException(403, 'Forbidden', `this key cannot act on tenant ${tenant}`, { code: 'forbidden', members: { tenant } });
      }
    }
  }

  /** Applies `changes` as one change set, or throws (412, 409, 400) with nothing applied. */
  async apply(changes: ParsedChange[], origin: ChangeOrigin, description: string | undefined): Promise<ChangeSetAnswer> {
    const { answer, created } = await this.applyOnce(changes, origin, description);
    for (const tenant of created) {
      await this.audit.record({ action: 'tenant-created', tenant: tenant.slug, tenantId: tenant.id, origin, revision: answer.revision, detail: { by: 'a change set' } });
    }
    const changed = answer.changes.filter((c) => c.result !== 'unchanged');
    if (changed.length > 0) this.audit.changeSet(origin, answer.revision, [...new Set(changed.map((c) => c.route.split('/')[0] as string))].sort(), changed.length, description);
    return answer;
  }

  private applyOnce(changes: ParsedChange[], origin: ChangeOrigin, description: string | undefined): Promise<{ answer: ChangeSetAnswer; created: LockedTenant[] }> {
    const ordered = [...changes].sort(byRouteKey);
    return this.store.retrying(() =>
      this.dataSource.transaction('READ COMMITTED', async (tx) => {
        const { tenants, created } = await this.lockTenants(tx, ordered);
        const routes = await this.changeSets.lockRoutes(
          tx,
          ordered.map((c) => c.id),
        );
        const decided = this.decide(ordered, tenants, routes);
        const results = new Map(decided.map((d) => [d.change.key, d]));
        const stored = decided.flatMap((d) => (d.stored ? [d.stored] : []));
        await this.hooks.beforeChangeSet?.(ordered.map((c) => c.key));
        const revision = stored.length > 0 ? (await this.changeSets.apply(tx, stored, origin, description)).revision : await this.changeSets.currentRevision(tx);
        const answer = {
          revision,
          changes: changes.map((c) => {
            const d = results.get(c.key) as Decision;
            return { route: c.key, op: c.op, result: d.result, revision: d.stored ? revision : d.revision };
          }),
        };
        return { answer, created };
      }),
    );
  }

  /** Locks the set's tenants, creating those its puts need; runs again when one was deleted meanwhile. */
  private async lockTenants(tx: EntityManager, changes: ParsedChange[]): Promise<{ tenants: Map<string, LockedTenant>; created: LockedTenant[] }> {
    const slugs = [...new Set(changes.map((c) => c.id.tenant))];
    const creating = [...new Set(changes.filter((c) => c.op === 'put').map((c) => c.id.tenant))];
    const created: LockedTenant[] = [];
    for (let attempt = 1; ; attempt++) {
      const locked = await this.changeSets.lockTenants(tx, slugs, creating);
      created.push(...locked.created);
      if (creating.every((t) => locked.tenants.has(t))) return { tenants: locked.tenants, created: created.filter((c) => locked.tenants.get(c.slug)?.id === c.id) };
      if (attempt >= TENANT_LOCK_ATTEMPTS) {
        throw new ProblemException(503, 'Service Unavailable', 'a tenant of the set was deleted and created again while the set was being applied; nothing was applied, retry', {
          code: 'conflict_retry',
          headers: { 'Retry-After': '1' },
        });
      }
    }
  }

  /** Each change's outcome on the routes as locked; throws on a failed compare, a refused health check or a quota. */
  private decide(changes: ParsedChange[], tenants: Map<string, LockedTenant>, routes: Map<string, LockedRoute>): Decision[] {
    const conflicts: ChangeConflict[] = [];
    const errors: FieldError[] = [];
    const decisions: Decision[] = [];
    const growth = new Map<string, { routes: number; creates: number; probed: number }>();
    for (const change of changes) {
      const current = routes.get(change.key);
      const actual = current ? Number(current.revision) : null;
      if ((change.ifRevision !== undefined && change.ifRevision !== actual) || (change.ifAbsent && current)) {
        conflicts.push({ route: change.key, expected: change.ifRevision ?? null, actual });
        continue;
      }
      const tenant = tenants.get(change.id.tenant);
      // A change decided on a tenant's history (rollback, revert) applies to that tenant only, not to one created since under its slug.
      if (change.tenantId !== undefined && tenant?.id !== change.tenantId) {
        conflicts.push({ route: change.key, expected: change.ifRevision ?? null, actual: null });
        continue;
      }
      if (change.op === 'delete') {
        if (!current || !tenant) decisions.push({ change, result: 'unchanged', revision: null });
        else {
          decisions.push({ change, result: 'deleted', revision: null, stored: { op: 'delete', id: change.id, tenantId: tenant.id, endpointId: current.id, event: eventOf(change) } });
          this.grow(growth, tenant.slug, -1, 0, -probedEndpoints(current.policy));
        }
        continue;
      }
      if (!tenant) throw new Error(`tenant ${change.id.tenant} could not be locked`); // lockTenants returns every tenant a put needs
      const write = routeWrite(change.parsed.policy);
      if (change.parsed.overCap && !sameHealthCheck(current, write)) {
        errors.push({ field: `changes[${change.index}].body.${change.parsed.overCap.field}`, message: change.parsed.overCap.message });
        continue;
      }
      if (current && unchanged(current, write)) {
        decisions.push({ change, result: 'unchanged', revision: actual });
        continue;
      }
      const stored: StoredChange = { op: 'put', id: change.id, tenantId: tenant.id, endpointId: current?.id ?? null, write, event: eventOf(change) };
      if (current) {
        stored.kept = keptHealth(current, write.policy);
        stored.createdAt = current.created_at;
      }
      decisions.push({ change, result: current ? 'updated' : 'created', revision: null, stored });
      this.grow(growth, tenant.slug, current ? 0 : 1, current ? 0 : 1, probedEndpoints(write.stored) - probedEndpoints(current?.policy ?? null));
    }
    if (conflicts.length > 0) throw changeConflicts(conflicts);
    if (errors.length > 0) throw invalidPolicy(errors);
    for (const [slug, g] of growth) this.checkQuota(tenants.get(slug) as LockedTenant, g);
    return decisions;
  }

  private grow(growth: Map<string, { routes: number; creates: number; probed: number }>, tenant: string, routes: number, creates: number, probed: number): void {
    const g = growth.get(tenant) ?? { routes: 0, creates: 0, probed: 0 };
    growth.set(tenant, { routes: g.routes + routes, creates: g.creates + creates, probed: g.probed + probed });
  }

  /** 409 when the set leaves the tenant with more routes than TENANT_MAX_ROUTES (having created some), or adds probed endpoints beyond its quota. */
  private checkQuota(tenant: LockedTenant, g: { routes: number; creates: number; probed: number }): void {
    const max = { routes: this.config.TENANT_MAX_ROUTES, probed: this.config.TENANT_MAX_PROBED_ENDPOINTS };
    let refusal: QuotaRefusal | undefined;
    if (g.creates > 0 && tenant.route_count + g.routes > max.routes) refusal = { refused: 'routes', count: tenant.route_count, adding: g.routes };
    else if (g.probed > 0 && tenant.probed_endpoint_count + g.probed > max.probed) refusal = { refused: 'probed_endpoints', count: tenant.probed_endpoint_count, adding: g.probed };
    if (!refusal) return;
    this.refusals.inc({ limit: refusal.refused, tenant: tenant.slug });
    throw tenantQuotaExceeded(tenant.slug, refusal, refusal.refused === 'routes' ? max.routes : max.probed);
  }
}

interface Decision {
  change: ParsedChange;
  result: ChangeResult;
  /** The route's revision when the set leaves it as it is (null: absent). */
  revision: number | null;
  /** What the store applies; none when unchanged. */
  stored?: StoredChange;
}
