import { useId, useState, type FormEvent } from 'react';
import { Link, getRouteApi, useNavigate } from '@tanstack/react-router';
import { useInfiniteQuery } from '@tanstack/react-query';
import { isValidName } from '@tm/contracts';
import { data, TrafficManagerError } from '../api/api';
import type { components } from '../api/command-api.gen';
import { ErrorNotice } from '../errors';
import { useSession } from '../session';
import { relativeTime, useClock } from '../route/time';
import './audit.css';

type AuditItem = components['schemas']['AuditItemResponse'];
export type AuditAction = AuditItem['action'];

/** The seven actions the command API records (apps/command-api/src/audit/audit-log.ts). */
export const AUDIT_ACTIONS: readonly AuditAction[] = ['change-set', 'tenant-created', 'tenant-deleted', 'tenant-updated', 'key-created', 'key-revoked', 'write-refused'];

/** The audit API's bounds for `limit` (PageQuery: 1 to 500, 50 by default). */
export const AUDIT_LIMIT = { min: 1, max: 500, default: 50 } as const;

/** As the command API reads `since` and `until` (AuditQuery's RFC 3339 pattern). */
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export interface AuditSearch {
  tenant?: string;
  action?: AuditAction;
  /** RFC 3339, UTC. */
  since?: string;
  /** RFC 3339, UTC. */
  until?: string;
  limit?: number;
}

function isTime(value: unknown): value is string {
  return typeof value === 'string' && RFC_3339.test(value) && !Number.isNaN(Date.parse(value));
}

/** The filters of /audit as the URL carries them: only values the API accepts are kept. */
export function auditSearch(search: Record<string, unknown>): AuditSearch {
  const out: AuditSearch = {};
  const { tenant, action, since, until, limit } = search;
  if (typeof tenant === 'string' && isValidName(tenant)) out.tenant = tenant;
  if (typeof action === 'string' && (AUDIT_ACTIONS as readonly string[]).includes(action)) out.action = action as AuditAction;
  if (isTime(since)) out.since = since;
  if (isTime(until)) out.until = until;
  const n = typeof limit === 'number' ? limit : typeof limit === 'string' && /^\d{1,3}$/.test(limit) ? Number(limit) : NaN;
  if (Number.isInteger(n) && n >= AUDIT_LIMIT.min && n <= AUDIT_LIMIT.max && n !== AUDIT_LIMIT.default) out.limit = n;
  return out;
}

const api = getRouteApi('/audit');

/** The browser's time zone, for the labels of the time inputs. */
function localZone(): string {
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const offset = -new Date().getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  const utc = `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return name ? `${name}, ${utc}` : utc;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** An RFC 3339 instant as a `datetime-local` value in the browser's time zone. */
export function toLocalInput(rfc3339: string | undefined): string {
  if (!rfc3339) return '';
  const d = new Date(rfc3339);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A `datetime-local` value (the browser's time zone) as RFC 3339 in UTC; undefined when empty or not a time. */
export function fromLocalInput(value: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return undefined;
  const ms = new Date(value).getTime(); // without an offset: the browser's local time
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString().replace('.000Z', 'Z');
}

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

/** Who did it: a key (name, id) or the admin token. */
function By({ by }: { by: AuditItem['by'] }) {
  if (!by) return <span className="muted">unknown</span>;
  if (by['admin'] === true) return <span>admin token</span>;
  const name = str(by['keyName']);
  const id = str(by['keyId']);
  return (
    <span>
      key {name ?? '(no name)'}
      {id && (
        <>
          <br />
          <code className="audit-id">{id}</code>
        </>
      )}
    </span>
  );
}

/** One line saying what the event's detail holds. */
export function summarise(item: AuditItem): string {
  const d = item.detail;
  switch (item.action) {
    case 'change-set': {
      const size = typeof d['size'] === 'number' ? d['size'] : undefined;
      const description = str(d['description']);
      return `${size ?? '?'} route${size === 1 ? '' : 's'} changed${description ? `: “${description}”` : ''}`;
    }
    case 'key-created': {
      const scopes = Array.isArray(d['scopes']) ? (d['scopes'] as unknown[]).map(String).join(', ') : '';
      return `key ${str(d['name']) ?? ''} created${scopes ? ` with ${scopes}` : ''}`;
    }
    case 'key-revoked':
      return `key ${str(d['name']) ?? ''} revoked`;
    case 'write-refused':
      return `${str(d['method']) ?? ''} ${str(d['route']) ?? ''} refused${d['target'] ? ` (tenant ${str(d['target'])})` : ''}${d['reason'] ? `: ${str(d['reason'])}` : ''}`;
    case 'tenant-created':
      return `tenant created${d['by'] ? ` by ${str(d['by'])}` : ''}${d['displayName'] ? ` (“${str(d['displayName'])}”)` : ''}`;
    case 'tenant-deleted':
      return `tenant deleted${typeof d['routes'] === 'number' ? ` with its ${d['routes']} route${d['routes'] === 1 ? '' : 's'}` : ''}`;
    case 'tenant-updated':
      return 'tenant updated';
  }
}

const ACTION_BADGE: Record<AuditAction, string> = {
  'change-set': 'badge-new',
  'tenant-created': 'badge-good',
  'tenant-deleted': 'badge-warn',
  'tenant-updated': 'badge-muted',
  'key-created': 'badge-good',
  'key-revoked': 'badge-warn',
  'write-refused': 'badge-bad',
};

type FieldErrors = Partial<Record<'tenant' | 'action' | 'since' | 'until' | 'limit', string>>;

/** The filters: edited here, applied to the URL (and so to the query) on submit. */
function Filters({ search, boundTenant, serverErrors }: { search: AuditSearch; boundTenant: string | null; serverErrors: FieldErrors }) {
  const navigate = useNavigate({ from: '/audit' });
  const id = useId();
  const [tenant, setTenant] = useState(boundTenant ?? search.tenant ?? '');
  const [action, setAction] = useState<string>(search.action ?? '');
  const [since, setSince] = useState(toLocalInput(search.since));
  const [until, setUntil] = useState(toLocalInput(search.until));
  const [limit, setLimit] = useState(String(search.limit ?? AUDIT_LIMIT.default));
  const [errors, setErrors] = useState<FieldErrors>({});
  const zone = localZone();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found: FieldErrors = {};
    const next: AuditSearch = {};
    if (!boundTenant && tenant.trim() !== '') {
      if (isValidName(tenant.trim())) next.tenant = tenant.trim();
      else found.tenant = 'a tenant name: lower-case letters, digits and dashes';
    }
    if (action) next.action = action as AuditAction;
    if (since) {
      const t = fromLocalInput(since);
      if (t) next.since = t;
      else found.since = 'a date and time';
    }
    if (until) {
      const t = fromLocalInput(until);
      if (t) next.until = t;
      else found.until = 'a date and time';
    }
    if (next.since && next.until && Date.parse(next.since) >= Date.parse(next.until)) found.until = 'must be after “since”';
    const n = Number(limit);
    if (!/^\d+$/.test(limit.trim()) || n < AUDIT_LIMIT.min || n > AUDIT_LIMIT.max) found.limit = `a whole number from ${AUDIT_LIMIT.min} to ${AUDIT_LIMIT.max}`;
    else if (n !== AUDIT_LIMIT.default) next.limit = n;
    setErrors(found);
    if (Object.keys(found).length === 0) void navigate({ search: next });
  };
  const clear = () => {
    setErrors({});
    void navigate({ search: {} });
  };

  const all = { ...serverErrors, ...errors };
  const described = (field: keyof FieldErrors, hint?: string) => {
    const ids = [...(all[field] ? [`${id}-${field}-error`] : []), ...(hint ? [`${id}-${hint}`] : [])];
    return { ...(all[field] ? { 'aria-invalid': true as const } : {}), ...(ids.length > 0 ? { 'aria-describedby': ids.join(' ') } : {}) };
  };
  const message = (field: keyof FieldErrors) =>
    all[field] ? (
      <span id={`${id}-${field}-error`} className="field-error">
        {all[field]}
      </span>
    ) : null;

  return (
    <form className="audit-filters" onSubmit={submit} aria-label="Filter the audit log" noValidate>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={`${id}-tenant`}>Tenant</label>
          <input
            id={`${id}-tenant`}
            value={tenant}
            onChange={(e) => setTenant(e.target.value)}
            readOnly={boundTenant !== null}
            placeholder="every tenant"
            spellCheck={false}
            {...described('tenant')}
          />
          {boundTenant !== null ? <span className="hint">this key's own tenant</span> : message('tenant')}
        </div>
        <div className="field">
          <label htmlFor={`${id}-action`}>Action</label>
          <select id={`${id}-action`} value={action} onChange={(e) => setAction(e.target.value)} {...described('action')}>
            <option value="">any action</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
          {message('action')}
        </div>
        <div className="field">
          <label htmlFor={`${id}-since`}>Since</label>
          <input id={`${id}-since`} type="datetime-local" step={1} value={since} onChange={(e) => setSince(e.target.value)} {...described('since', 'zone')} />
          {message('since')}
        </div>
        <div className="field">
          <label htmlFor={`${id}-until`}>Until (before)</label>
          <input id={`${id}-until`} type="datetime-local" step={1} value={until} onChange={(e) => setUntil(e.target.value)} {...described('until', 'zone')} />
          {message('until')}
        </div>
        <div className="field">
          <label htmlFor={`${id}-limit`}>Events per page</label>
          <input
            id={`${id}-limit`}
            type="number"
            inputMode="numeric"
            min={AUDIT_LIMIT.min}
            max={AUDIT_LIMIT.max}
            value={limit}
            onChange={(e) => setLimit(e.target.value)}
            {...described('limit')}
          />
          {message('limit')}
        </div>
      </div>
      <p className="hint" id={`${id}-zone`}>
        Since and until are in your time zone ({zone}); they are sent to the server in UTC (RFC 3339).
      </p>
      <div className="toolbar">
        <button type="submit" className="primary">
          Apply filters
        </button>
        <button type="button" onClick={clear}>
          Clear filters
        </button>
      </div>
    </form>
  );
}

function AuditRow({ item, now }: { item: AuditItem; now: number }) {
  const at = Date.parse(item.at);
  const refused = item.action === 'write-refused';
  return (
    <tr className={refused ? 'audit-refused' : undefined} data-action={item.action}>
      <td>
        <time dateTime={item.at} title={item.at}>
          {absolute.format(at)}
        </time>
        <br />
        <span className="muted">{relativeTime(at, now)}</span>
      </td>
      <td>
        <span className={`badge ${ACTION_BADGE[item.action]}`}>{item.action}</span>
      </td>
      <td>{item.tenant ?? <span className="muted">none</span>}</td>
      <td>
        <By by={item.by} />
      </td>
      <td>
        {item.revision !== undefined ? (
          <Link to="/changes/$revision" params={{ revision: String(item.revision) }} aria-label={`change set at revision ${item.revision}`}>
            {item.revision}
          </Link>
        ) : (
          <span className="muted">–</span>
        )}
      </td>
      <td>
        <code className="audit-id">{item.requestId ?? '–'}</code>
      </td>
      <td>
        <code>{item.clientAddress ?? '–'}</code>
      </td>
      <td className="audit-detail">
        <span>{summarise(item)}</span>
        <details>
          <summary>full detail</summary>
          <pre>{JSON.stringify(item.detail, null, 2)}</pre>
        </details>
      </td>
    </tr>
  );
}

/** The 400's fields, by the filter they belong to. */
function fieldErrorsOf(error: unknown): FieldErrors {
  if (!(error instanceof TrafficManagerError) || error.code !== 'bad_request' || !error.errors) return {};
  const out: FieldErrors = {};
  for (const e of error.errors) {
    if (e.field === 'tenant' || e.field === 'action' || e.field === 'since' || e.field === 'until' || e.field === 'limit') out[e.field] = e.message;
  }
  return out;
}

/** The audit log (admin or audit:read), with filters kept in the URL; newest first, a page at a time. */
export function AuditPage() {
  const { apis, whoami } = useSession();
  // The router merges the raw query string into a route's search (the root validates nothing): validated again here.
  const search = auditSearch(api.useSearch());
  const now = useClock(15_000);
  const boundTenant = whoami.tenant ?? null;
  const tenant = boundTenant ?? search.tenant;
  const query = {
    ...(tenant ? { tenant } : {}),
    ...(search.action ? { action: search.action } : {}),
    ...(search.since ? { since: search.since } : {}),
    ...(search.until ? { until: search.until } : {}),
    limit: search.limit ?? AUDIT_LIMIT.default,
  };
  const log = useInfiniteQuery({
    queryKey: ['audit', query],
    queryFn: ({ pageParam }) => data(apis.command.GET('/v1/audit', { params: { query: { ...query, ...(pageParam ? { cursor: pageParam } : {}) } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const items = log.data?.pages.flatMap((p) => p.items) ?? [];
  const forbidden = log.error instanceof TrafficManagerError && log.error.code === 'forbidden';
  const serverErrors = fieldErrorsOf(log.error);
  const filtered = Object.keys(query).length > 1;

  return (
    <section className="audit-page">
      <h1>Audit</h1>
      <p className="muted">
        Every change set, tenant and key event, and every write refused with 403{boundTenant ? ` in tenant ${boundTenant}` : ''}, newest first.
      </p>
      {!forbidden && <Filters key={JSON.stringify(search)} search={search} boundTenant={boundTenant} serverErrors={serverErrors} />}
      {forbidden && (
        <div role="alert" className="notice notice-error" data-testid="audit-forbidden">
          <strong>This key may not read the audit log (403).</strong>
          <p>
            Reading it needs the <code>audit:read</code> scope (the log of the key's own tenant, or every tenant for a key bound to none) or{' '}
            <code>admin</code>. This key has {whoami.scopes.join(', ')}
            {boundTenant ? ` on tenant ${boundTenant}` : tenant ? `, and asked for tenant ${tenant}` : ''}. Ask an administrator for a key with <code>audit:read</code>.
          </p>
        </div>
      )}
      {log.error && !forbidden && !log.isFetchNextPageError && Object.keys(serverErrors).length === 0 && (
        <ErrorNotice error={log.error} onRetry={() => void log.refetch()} />
      )}
      {Object.keys(serverErrors).length > 0 && (
        <div role="alert" className="notice notice-error">
          The server refused these filters (400): see the messages next to the fields.
        </div>
      )}
      {log.isPending && <p role="status">Loading the audit log…</p>}
      {log.data && (
        <>
          <p className="count" role="status" data-testid="audit-count">
            {items.length === 0
              ? filtered
                ? 'No event matches these filters.'
                : 'No event yet.'
              : `${items.length} event${items.length === 1 ? '' : 's'}${log.hasNextPage ? ' shown; more are older' : ''}.`}
          </p>
          {items.length > 0 && (
            <div className="audit-table-wrap">
              <table className="audit-table">
                <caption className="visually-hidden">Audit events, newest first; refused writes are highlighted</caption>
                <thead>
                  <tr>
                    <th scope="col">At</th>
                    <th scope="col">Action</th>
                    <th scope="col">Tenant</th>
                    <th scope="col">By</th>
                    <th scope="col">Revision</th>
                    <th scope="col">Request id</th>
                    <th scope="col">Client address</th>
                    <th scope="col">Detail</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((item, i) => (
                    <AuditRow key={`${item.at}-${item.action}-${item.requestId ?? ''}-${item.tenant ?? ''}-${i}`} item={item} now={now} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {log.hasNextPage && (
            <button type="button" onClick={() => void log.fetchNextPage()} disabled={log.isFetchingNextPage}>
              {log.isFetchingNextPage ? 'Loading older events…' : 'Load more'}
            </button>
          )}
          {log.isFetchNextPageError && <ErrorNotice error={log.error} onRetry={() => void log.fetchNextPage()} />}
        </>
      )}
    </section>
  );
}
