import { useMemo, useRef, useState, type FormEvent } from 'react';
import { Link, getRouteApi, useNavigate } from '@tanstack/react-router';
import { useQuery } from '@tanstack/react-query';
import { useVirtualizer } from '@tanstack/react-virtual';
import { isValidName } from '@tm/contracts';
import { data } from '../api/api';
import { isAdmin, useSession } from '../session';
import { useNow, useTenantWatch } from '../watch-hub';
import { CHANGE_MARK_MS, healthKey, type TenantWatch, type WatchedRoute } from '../watch';
import { ErrorNotice } from '../errors';

const api = getRouteApi('/routes');

export type RouteFilter = 'all' | 'probed' | 'unhealthy' | 'changed';
const FILTERS: { value: RouteFilter; label: string }[] = [
  { value: 'all', label: 'every route' },
  { value: 'probed', label: 'probed routes' },
  { value: 'unhealthy', label: 'with an endpoint down' },
  { value: 'changed', label: 'changed while watching' },
];

export interface RoutesSearch {
  tenant?: string;
  q?: string;
  filter?: RouteFilter;
}

export function routesSearch(search: Record<string, unknown>): RoutesSearch {
  const out: RoutesSearch = {};
  if (typeof search['tenant'] === 'string' && isValidName(search['tenant'])) out.tenant = search['tenant'];
  if (typeof search['q'] === 'string' && search['q'] !== '') out.q = search['q'].slice(0, 200);
  const filter = search['filter'];
  if (typeof filter === 'string' && FILTERS.some((f) => f.value === filter) && filter !== 'all') out.filter = filter as RouteFilter;
  return out;
}

export interface HealthSummary {
  healthy: number;
  unhealthy: number;
  unknown: number;
  probed: boolean;
}

export function healthOf(watch: TenantWatch, route: WatchedRoute): HealthSummary {
  const summary: HealthSummary = { healthy: 0, unhealthy: 0, unknown: 0, probed: route.change.healthCheck !== null };
  if (!summary.probed) return summary;
  for (const endpoint of route.change.endpoints) {
    if (endpoint.state === 'disabled') continue;
    // Health belongs to one health revision of the endpoint: a re-pointed or re-created endpoint starts unknown.
    const frame = watch.health.get(healthKey(route.change.key, endpoint.id));
    const health = frame && frame.healthRevision === endpoint.healthRevision ? frame.health : 'unknown';
    summary[health] += 1;
  }
  return summary;
}

function HealthBadge({ summary }: { summary: HealthSummary }) {
  if (!summary.probed) return <span className="badge badge-muted">not probed</span>;
  if (summary.unhealthy > 0) return <span className="badge badge-bad">{summary.unhealthy} down</span>;
  if (summary.unknown > 0) return <span className="badge badge-muted">{summary.unknown} unknown</span>;
  return <span className="badge badge-good">healthy</span>;
}

/** Admin: which tenant to show (from GET /v1/tenants). */
function TenantPicker({ tenant }: { tenant: string | undefined }) {
  const { apis } = useSession();
  const navigate = useNavigate({ from: '/routes' });
  const tenants = useQuery({ queryKey: ['tenants'], queryFn: () => data(apis.command.GET('/v1/tenants')) });
  if (tenants.error) return <ErrorNotice error={tenants.error} onRetry={() => void tenants.refetch()} />;
  return (
    <label>
      Tenant{' '}
      <select
        value={tenant ?? ''}
        onChange={(e) => void navigate({ search: (s) => ({ ...s, tenant: e.target.value || undefined }) })}
        disabled={!tenants.data}
      >
        <option value="">{tenants.data ? 'choose a tenant' : 'loading tenants…'}</option>
        {tenants.data?.items.map((t) => (
          <option key={t.slug} value={t.slug}>
            {t.slug}
            {t.displayName ? ` (${t.displayName})` : ''}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Opens a route by name (an existing one, or a new one to create on its page). */
function OpenRoute({ tenant }: { tenant: string }) {
  const navigate = useNavigate();
  const [service, setService] = useState('');
  const [environment, setEnvironment] = useState('');
  const valid = isValidName(service) && isValidName(environment);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (valid) void navigate({ to: '/routes/$tenant/$service/$environment', params: { tenant, service, environment } });
  };
  return (
    <form className="inline-form" onSubmit={submit} aria-label="Open or create a route">
      <label>
        Service <input value={service} onChange={(e) => setService(e.target.value.trim())} placeholder="billing" />
      </label>
      <label>
        Environment <input value={environment} onChange={(e) => setEnvironment(e.target.value.trim())} placeholder="prod" />
      </label>
      <button type="submit" disabled={!valid}>
        Open or create
      </button>
    </form>
  );
}

const ROW_HEIGHT = 44;

function RouteList({ watch, rows, now }: { watch: TenantWatch; rows: WatchedRoute[]; now: number }) {
  const parent = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: rows.length, getScrollElement: () => parent.current, estimateSize: () => ROW_HEIGHT, overscan: 10 });
  return (
    <div ref={parent} className="route-list" data-testid="route-list" tabIndex={-1}>
      <div role="list" aria-label={`${rows.length} routes`} style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
        {virtualizer.getVirtualItems().map((item) => {
          const row = rows[item.index] as WatchedRoute;
          const { change } = row;
          const changed = row.changedAt !== undefined && now - row.changedAt < CHANGE_MARK_MS;
          return (
            <div
              key={change.key}
              role="listitem"
              aria-setsize={rows.length}
              aria-posinset={item.index + 1}
              className={`route-row${changed ? ' route-changed' : ''}`}
              data-route={change.key}
              style={{ position: 'absolute', top: 0, left: 0, width: '100%', height: ROW_HEIGHT, transform: `translateY(${item.start}px)` }}
            >
              <Link className="route-name" to="/routes/$tenant/$service/$environment" params={{ tenant: change.tenant, service: change.service, environment: change.environment }}>
                {change.service}/{change.environment}
              </Link>
              <span className="route-url" title={change.url ?? ''}>
                {change.url}
              </span>
              <span className="route-endpoints">
                {change.endpoints.length} endpoint{change.endpoints.length === 1 ? '' : 's'}
              </span>
              <HealthBadge summary={healthOf(watch, row)} />
              <span className="route-revision">rev {change.revision}</span>
              {changed && <span className="badge badge-new">changed</span>}
            </div>
          );
        })}
      </div>
    </div>
  );
}

/** A tenant's routes, live from the watch (its snapshot, then every change), searched and filtered; virtualised. */
export function RoutesPage() {
  const { whoami } = useSession();
  // Validated again: the router merges the raw query string into what routesSearch kept.
  const search = routesSearch(api.useSearch());
  const navigate = useNavigate({ from: '/routes' });
  const tenant = whoami.tenant ?? search.tenant;
  const watch = useTenantWatch(tenant ?? null);
  const now = useNow(1000);
  const q = (search.q ?? '').toLowerCase();
  const filter = search.filter ?? 'all';
  const version = watch?.version;
  const rows = useMemo(() => {
    if (!watch) return [];
    const out: WatchedRoute[] = [];
    for (const row of watch.routes.values()) {
      const c = row.change;
      if (q && !`${c.service}/${c.environment} ${c.url ?? ''}`.toLowerCase().includes(q)) continue;
      if (filter === 'probed' && c.healthCheck === null) continue;
      if (filter === 'unhealthy' && healthOf(watch, row).unhealthy === 0) continue;
      if (filter === 'changed' && row.changedAt === undefined) continue;
      out.push(row);
    }
    return out.sort((a, b) => (a.change.key < b.change.key ? -1 : a.change.key > b.change.key ? 1 : 0));
    // version: the watch's content changed (the map is mutated in place).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [watch, version, q, filter]);
  const status = watch?.status();
  return (
    <section className="routes-page">
      <h1>Routes{tenant ? ` of ${tenant}` : ''}</h1>
      <div className="toolbar">
        {isAdmin(whoami) && !whoami.tenant && <TenantPicker tenant={tenant} />}
        <label>
          Search{' '}
          <input
            type="search"
            value={search.q ?? ''}
            placeholder="service, environment or URL"
            onChange={(e) => void navigate({ search: (s) => ({ ...s, q: e.target.value || undefined }), replace: true })}
          />
        </label>
        <label>
          Show{' '}
          <select value={filter} onChange={(e) => void navigate({ search: (s) => ({ ...s, filter: e.target.value === 'all' ? undefined : (e.target.value as RouteFilter) }), replace: true })}>
            {FILTERS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {!tenant && <p>Choose a tenant to see its routes.</p>}
      {tenant && <OpenRoute tenant={tenant} />}
      {tenant && watch && status?.state === 'connecting' && watch.routes.size === 0 && <p role="status">Loading the routes of {tenant}…</p>}
      {tenant && watch && status?.refusedStatus === 403 && (
        <div role="alert" className="notice notice-error">
          The resolver refused to show {tenant} to this key (403): it lacks <code>routes:read</code> on that tenant.
        </div>
      )}
      {tenant && watch && (
        <>
          <p className="count" data-testid="route-count">
            {rows.length === watch.routes.size ? `${rows.length} routes` : `${rows.length} of ${watch.routes.size} routes`}
          </p>
          <RouteList watch={watch} rows={rows} now={now} />
        </>
      )}
    </section>
  );
}
