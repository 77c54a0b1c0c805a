import { useId, useRef, useState } from 'react';
import { Link, getRouteApi, useNavigate } from '@tanstack/react-router';
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { parseRouteKey } from '@tm/contracts';
import { data, TrafficManagerError } from '../api/api';
import type { components } from '../api/command-api.gen';
import { hasScope, useSession } from '../session';
import { describeError, ErrorNotice } from '../errors';
import { parseRevision, PropagationStatus } from './propagation';
import { RevisionForm } from '../route/revision-form';
import './change-set.css';

const api = getRouteApi('/changes/$revision');

type ChangeSetView = components['schemas']['ChangeSetViewResponse'];
type ChangeSetChange = components['schemas']['ChangeSetChange'];
type ChangeSetAnswer = components['schemas']['ChangeSetResponse'];
type AuditItem = components['schemas']['AuditItemResponse'];
type HistoryItem = components['schemas']['HistoryItemResponse'];

/** How many recent change sets the index lists (from the audit log). */
const RECENT = 20;
/** A revert's confirmation previews each route's state before the set, up to this many routes. */
const PREVIEW_MAX = 50;
/** Never asked for (the query is disabled): a route key that does not parse. */
const NO_ROUTE = { tenant: '-', service: '-', environment: '-' };

/** Who made a change: a key's name, the admin token, or unknown (a version from before history was kept). */
export function byText(by: { keyId?: unknown; keyName?: unknown; admin?: unknown } | null | undefined): string {
  if (!by) return 'unknown (from before history was kept)';
  if (by.admin === true) return 'the admin token';
  if (typeof by.keyName === 'string') return `key ${by.keyName}`;
  if (typeof by.keyId === 'string') return `key ${by.keyId}`;
  return 'unknown';
}

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** A route key as a link to its page (plain text when it is not a valid key). */
function RouteLink({ route, history }: { route: string; history?: boolean }) {
  const id = parseRouteKey(route);
  if (!id) return <span className="mono">{route}</span>;
  if (history) {
    return (
      <Link to="/routes/$tenant/$service/$environment/history" params={id} aria-label={`History of ${route}`}>
        history
      </Link>
    );
  }
  return (
    <Link to="/routes/$tenant/$service/$environment" params={id} className="mono">
      {route}
    </Link>
  );
}

/** A route PUT body in a line: its URL or its endpoints, and whether it is probed. */
export function bodySummary(body: Record<string, unknown> | null | undefined): string {
  if (!body) return 'deleted';
  const parts: string[] = [];
  const url = typeof body['url'] === 'string' ? body['url'] : undefined;
  const endpoints = body['endpoints'];
  // A stored route carries both: its first choice (url) and every endpoint; one endpoint at that URL is said once.
  const single = Array.isArray(endpoints) && endpoints.length === 1 && (endpoints[0] as { url?: unknown } | undefined)?.url === url;
  if (url !== undefined && (!Array.isArray(endpoints) || single)) parts.push(url);
  if (Array.isArray(endpoints) && !single) {
    const shown = (endpoints as { id?: unknown; url?: unknown; state?: unknown }[])
      .slice(0, 3)
      .map((e) => `${String(e.id ?? '?')} → ${String(e.url ?? '?')}${typeof e.state === 'string' && e.state !== 'enabled' ? ` (${e.state})` : ''}`);
    parts.push(`${endpoints.length} endpoint${endpoints.length === 1 ? '' : 's'}: ${shown.join(', ')}${endpoints.length > 3 ? ', …' : ''}`);
  }
  const check = body['healthCheck'] as { type?: unknown; path?: unknown } | null | undefined;
  if (check && typeof check === 'object') parts.push(`probed (${String(check.type ?? 'http')}${typeof check.path === 'string' ? ` ${check.path}` : ''})`);
  return parts.join('; ') || 'a route';
}

function OpenChangeSet() {
  const navigate = useNavigate();
  return (
    <RevisionForm
      label="Open a change set"
      submitLabel="Open"
      onRevision={(revision) => void navigate({ to: '/changes/$revision', params: { revision: String(revision) } })}
    />
  );
}

interface RecentSet {
  revision: number;
  at: string;
  tenants: string[];
  by: AuditItem['by'];
  size: number | undefined;
  description: string | null;
}

/** The audit log lists a change set once per tenant it touched: one row per set here. */
function recentSets(items: AuditItem[]): RecentSet[] {
  const out = new Map<number, RecentSet>();
  for (const item of items) {
    if (item.revision === undefined) continue;
    const known = out.get(item.revision);
    if (known) {
      if (item.tenant && !known.tenants.includes(item.tenant)) known.tenants.push(item.tenant);
      continue;
    }
    const size = item.detail['size'];
    const description = item.detail['description'];
    out.set(item.revision, {
      revision: item.revision,
      at: item.at,
      tenants: item.tenant ? [item.tenant] : [],
      by: item.by,
      size: typeof size === 'number' ? size : undefined,
      description: typeof description === 'string' ? description : null,
    });
  }
  return [...out.values()];
}

function RecentChangeSets() {
  const { apis } = useSession();
  const recent = useQuery({
    queryKey: ['audit', { action: 'change-set', limit: RECENT }],
    queryFn: () => data(apis.command.GET('/v1/audit', { params: { query: { action: 'change-set', limit: RECENT } } })),
  });
  const sets = recent.data ? recentSets(recent.data.items) : [];
  return (
    <section aria-labelledby="recent-change-sets">
      <h2 id="recent-change-sets">Recent change sets</h2>
      {recent.isPending && <p role="status">Loading the audit log…</p>}
      {recent.error && <ErrorNotice error={recent.error} onRetry={() => void recent.refetch()} />}
      {recent.data && sets.length === 0 && <p>No change set in the audit log yet.</p>}
      {sets.length > 0 && (
        <table className="change-sets">
          <thead>
            <tr>
              <th scope="col">Revision</th>
              <th scope="col">When</th>
              <th scope="col">Tenants</th>
              <th scope="col">By</th>
              <th scope="col">Routes</th>
              <th scope="col">Description</th>
            </tr>
          </thead>
          <tbody>
            {sets.map((s) => (
              <tr key={s.revision}>
                <td>
                  <Link to="/changes/$revision" params={{ revision: String(s.revision) }} aria-label={`Change set at revision ${s.revision}`}>
                    {s.revision}
                  </Link>
                </td>
                <td>{when(s.at)}</td>
                <td>{s.tenants.join(', ')}</td>
                <td>{byText(s.by)}</td>
                <td>{s.size ?? ''}</td>
                <td className="description">{s.description ?? <span className="muted">none</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Open a change set by its revision; with audit:read, the recent ones. */
export function ChangeSetsPage() {
  const { whoami } = useSession();
  return (
    <section>
      <h1>Change sets</h1>
      <p>A change set is every route a write changed at one revision. Open one to see its routes or revert it.</p>
      <OpenChangeSet />
      {hasScope(whoami, 'audit:read') ? (
        <RecentChangeSets />
      ) : (
        <p className="muted">The recent change sets are listed for keys with audit:read; open one by its revision.</p>
      )}
    </section>
  );
}

/** A change set: its routes and results; revert. */
export function ChangeSetPage() {
  const { revision } = api.useParams();
  const parsed = parseRevision(revision);
  if (parsed === undefined) {
    return (
      <section>
        <h1>Change set</h1>
        <div role="alert" className="notice notice-error">
          <strong>Not a revision</strong>
          <p>“{revision.slice(0, 40)}” is not a revision: a revision is a whole number, 0 or more.</p>
        </div>
        <p>
          <Link to="/changes">Open another change set</Link>
        </p>
      </section>
    );
  }
  // Keyed: another revision starts afresh (its revert's state included).
  return <ChangeSetDetails key={parsed} revision={parsed} />;
}

function ChangeSetDetails({ revision }: { revision: number }) {
  const { apis, whoami } = useSession();
  const view = useQuery({
    queryKey: ['change-set', revision],
    queryFn: () => data(apis.command.GET('/v1/changes/{revision}', { params: { path: { revision } } })),
    retry: (count, error) => !(error instanceof TrafficManagerError && error.status !== undefined && error.status < 500) && count < 2,
  });
  const notFound = view.error instanceof TrafficManagerError && view.error.status === 404;
  return (
    <section>
      <h1>Change set at revision {revision}</h1>
      <p className="toolbar">
        <Link to="/revisions/$revision" params={{ revision: String(revision) }}>
          Propagation of revision {revision}
        </Link>
        <Link to="/changes">Other change sets</Link>
      </p>
      {view.isPending && <p role="status">Loading the change set…</p>}
      {notFound && (
        <div role="alert" className="notice notice-warning">
          <strong>No change set here</strong>
          <p>There is no change set at revision {revision} that this key may see (404): nothing was written at it, or only to tenants this key cannot read.</p>
        </div>
      )}
      {view.error && !notFound && <ErrorNotice error={view.error} onRetry={() => void view.refetch()} />}
      {view.data && (
        <>
          <dl className="change-set-facts">
            <div>
              <dt>Revision</dt>
              <dd>{view.data.revision}</dd>
            </div>
            <div>
              <dt>When</dt>
              <dd>{when(view.data.at)}</dd>
            </div>
            <div>
              <dt>By</dt>
              <dd>{byText(view.data.by)}</dd>
            </div>
            <div>
              <dt>Request id</dt>
              <dd className="mono">{view.data.requestId ?? 'unknown'}</dd>
            </div>
            <div className="wide">
              <dt>Description</dt>
              <dd>{view.data.description ?? <span className="muted">none given</span>}</dd>
            </div>
          </dl>
          <ChangesTable changes={view.data.changes} />
          {hasScope(whoami, 'routes:write') && <Revert view={view.data} />}
        </>
      )}
    </section>
  );
}

function ChangesTable({ changes }: { changes: ChangeSetChange[] }) {
  return (
    <table className="changes">
      <caption>
        {changes.length} route{changes.length === 1 ? '' : 's'} changed
      </caption>
      <thead>
        <tr>
          <th scope="col">Route</th>
          <th scope="col">Op</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((c) => (
          <tr key={c.route} data-route={c.route}>
            <th scope="row">
              <RouteLink route={c.route} />
            </th>
            <td>
              <span className={`badge ${c.op === 'delete' ? 'badge-bad' : 'badge-new'}`}>{c.op}</span>
            </td>
            <td>
              <span className="summary">{bodySummary(c.body)}</span>
              {c.body && (
                <details>
                  <summary>Body as JSON</summary>
                  <pre className="json-view">{JSON.stringify(c.body, null, 2)}</pre>
                </details>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What reverting does to one route, from its history (newest first): refused when it moved on, else its version before the set. */
function previewOf(revision: number, items: HistoryItem[] | undefined): { text: string; conflict: boolean } | undefined {
  if (!items) return undefined;
  const [latest, before] = items;
  if (!latest || latest.revision !== revision) {
    return { text: `changed since (now at revision ${latest?.revision ?? '?'}): the revert will be refused`, conflict: true };
  }
  if (!before) return { text: 'deleted (this change set created it)', conflict: false };
  if (before.op === 'delete') return { text: `deleted, as it was after revision ${before.revision}`, conflict: false };
  return { text: `as of revision ${before.revision}: ${bodySummary(before.route as Record<string, unknown> | null)}`, conflict: false };
}

function RevertPreview({ view }: { view: ChangeSetView }) {
  const { apis } = useSession();
  const previewed = view.changes.length <= PREVIEW_MAX;
  const histories = useQueries({
    queries: view.changes.map((c) => {
      const id = parseRouteKey(c.route);
      return {
        queryKey: ['revert-preview', c.route],
        queryFn: () => data(apis.command.GET('/v1/routes/{tenant}/{service}/{environment}/history', { params: { path: id ?? NO_ROUTE, query: { limit: 2 } } })),
        enabled: previewed && id !== undefined,
        retry: false,
      };
    }),
  });
  return (
    <table className="revert-preview">
      <caption>What the revert restores</caption>
      <thead>
        <tr>
          <th scope="col">Route</th>
          <th scope="col">Now (set at {view.revision})</th>
          <th scope="col">Restored to</th>
        </tr>
      </thead>
      <tbody>
        {view.changes.map((c, i) => {
          const h = histories[i];
          const preview = previewOf(view.revision, h?.data?.items);
          return (
            <tr key={c.route}>
              <th scope="row" className="mono">
                {c.route}
              </th>
              <td>{c.op === 'delete' ? 'deleted' : bodySummary(c.body)}</td>
              <td className={preview?.conflict ? 'conflict' : undefined}>
                {!previewed
                  ? 'its state before the set'
                  : h?.error
                    ? `its state before the set (not previewed: ${describeError(h.error).title.toLowerCase()})`
                    : (preview?.text ?? 'reading its history…')}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function ConflictTable({ revision, conflicts }: { revision: number; conflicts: readonly { route: string; expected: number | null; actual: number | null }[] }) {
  return (
    <table className="conflicts">
      <caption>Routes changed since revision {revision}</caption>
      <thead>
        <tr>
          <th scope="col">Route</th>
          <th scope="col">Expected revision</th>
          <th scope="col">Actual revision</th>
          <th scope="col">History</th>
        </tr>
      </thead>
      <tbody>
        {conflicts.map((c) => (
          <tr key={c.route} data-route={c.route}>
            <th scope="row">
              <RouteLink route={c.route} />
            </th>
            <td>{c.expected ?? 'absent'}</td>
            <td>{c.actual ?? 'deleted'}</td>
            <td>
              <RouteLink route={c.route} history />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function RevertOutcome({ revision, error, answer }: { revision: number; error: unknown; answer: ChangeSetAnswer | undefined }) {
  if (error instanceof TrafficManagerError && error.status === 409) {
    return (
      <div role="alert" className="notice notice-error">
        <strong>Not reverted: routes changed since</strong>
        <p>
          Nothing was applied (409). These routes are no longer as the change set at revision {revision} left them; look at their history, or roll each back on its own.
        </p>
        {error.conflicts && error.conflicts.length > 0 && <ConflictTable revision={revision} conflicts={error.conflicts} />}
      </div>
    );
  }
  if (error instanceof TrafficManagerError && error.status === 404) {
    return (
      <div role="alert" className="notice notice-error">
        <strong>Not reverted</strong>
        <p>There is no change set at revision {revision} that this key may write (404): the key must be allowed to write every tenant the set changed.</p>
      </div>
    );
  }
  if (error) return <ErrorNotice error={error} />;
  if (!answer) return null;
  const changed = answer.changes.filter((c) => c.result !== 'unchanged');
  if (changed.length === 0) {
    return (
      <div role="status" className="notice notice-success">
        Nothing to revert: every route is already as it was before revision {revision} (the store is at revision {answer.revision}).
      </div>
    );
  }
  return (
    <div className="revert-done">
      <div role="status" className="notice notice-success">
        <strong>Reverted</strong> in a new change set at revision {answer.revision}:{' '}
        {changed.map((c, i) => (
          <span key={c.route}>
            {i > 0 && ', '}
            <span className="mono">{c.route}</span> {c.result}
          </span>
        ))}
        .{' '}
        <Link to="/changes/$revision" params={{ revision: String(answer.revision) }}>
          The change set at revision {answer.revision}
        </Link>
      </div>
      <PropagationStatus revision={answer.revision} title={`Propagation of revision ${answer.revision}`} />
    </div>
  );
}

function Revert({ view }: { view: ChangeSetView }) {
  const { apis } = useSession();
  const queryClient = useQueryClient();
  const dialog = useRef<HTMLDialogElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  const [open, setOpen] = useState(false);
  const titleId = useId();
  const revert = useMutation({
    mutationFn: () => data(apis.command.POST('/v1/changes/{revision}/revert', { params: { path: { revision: view.revision } } })),
    // Everything read before may have changed (routes, histories, the audit log); a propagation is kept (its timing).
    onSuccess: () => queryClient.invalidateQueries({ predicate: (q) => q.queryKey[0] !== 'propagation' }),
  });
  const show = () => {
    setOpen(true);
    dialog.current?.showModal();
  };
  const close = () => dialog.current?.close();
  const confirm = () => {
    close();
    revert.mutate();
  };
  return (
    <section className="revert" aria-labelledby="revert-heading">
      <h2 id="revert-heading">Revert</h2>
      <p>Restores every route this set changed to its state before revision {view.revision}, in one new change set; refused, with nothing applied, if any of them changed since.</p>
      <button ref={opener} type="button" className="danger" onClick={show} disabled={revert.isPending}>
        {revert.isPending ? 'Reverting…' : `Revert change set ${view.revision}…`}
      </button>
      <dialog
        ref={dialog}
        aria-labelledby={titleId}
        onClose={() => {
          setOpen(false);
          opener.current?.focus();
        }}
      >
        <h2 id={titleId}>Revert the change set at revision {view.revision}?</h2>
        {view.description && <p>Its description: “{view.description}”.</p>}
        {open && <RevertPreview view={view} />}
        <p>
          {view.changes.length} route{view.changes.length === 1 ? '' : 's'} in one new change set. If any changed since revision {view.revision}, nothing is applied.
        </p>
        <div className="toolbar">
          <button type="button" onClick={close} autoFocus>
            Cancel
          </button>
          <button type="button" className="danger" onClick={confirm}>
            Revert
          </button>
        </div>
      </dialog>
      <div aria-live="polite">{revert.isPending && <p>Reverting the change set at revision {view.revision}…</p>}</div>
      <RevertOutcome revision={view.revision} error={revert.error} answer={revert.data} />
    </section>
  );
}
