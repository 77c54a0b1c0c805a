import { useEffect, useId, useState } from 'react';
import { Link, getRouteApi, useNavigate } from '@tanstack/react-router';
import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { data, TrafficManagerError } from '../api/api';
import type { components } from '../api/command-api.gen';
import { ErrorNotice } from '../errors';
import { hasScope, useSession } from '../session';
import { useTenantWatch } from '../watch-hub';
import { diffRoutes } from '../diff';
import { Propagation } from '../route/propagation-region';
import { ConfirmDialog } from '../route/confirm-dialog';
import { DiffTable } from '../route/diff-table';
import { healthQueryKey, historyQueryKey, routeQueryKey, type RouteId } from '../route/route-api';
import { absoluteTime, relativeTime, useClock } from '../route/time';
import './route.css';

const api = getRouteApi('/routes/$tenant/$service/$environment/history');

type HistoryItem = components['schemas']['HistoryItemResponse'];
type ChangeSet = components['schemas']['ChangeSetResponse'];

export interface HistorySearch {
  from?: number;
  to?: number;
}

function revisionOf(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export function historySearch(search: Record<string, unknown>): HistorySearch {
  const from = revisionOf(search['from']);
  const to = revisionOf(search['to']);
  return { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
}

const PAGE = 20;

function who(by: HistoryItem['by']): string {
  if (!by) return 'before history was kept';
  if (by.admin) return 'admin (TM_ADMIN_TOKEN)';
  return by.keyName ?? by.keyId ?? 'a key';
}

function versionLabel(item: HistoryItem, now: number): string {
  return `revision ${item.revision} · ${item.op} · ${relativeTime(Date.parse(item.at), now)}`;
}

/** The two versions to compare, each a select of the versions loaded; kept in the URL (?from=&to=). */
function VersionPicker({ label, value, items, now, onChange }: { label: string; value: number | undefined; items: HistoryItem[]; now: number; onChange(revision: number): void }) {
  const known = value === undefined || items.some((i) => i.revision === value);
  const id = useId();
  return (
    <span className="version-picker">
      <label htmlFor={id}>{label}</label>{' '}
      <select id={id} value={value ?? ''} onChange={(e) => onChange(Number(e.target.value))}>
        {!known && <option value={value}>revision {value} (not loaded: load more)</option>}
        {value === undefined && <option value="">choose a version</option>}
        {items.map((i) => (
          <option key={i.revision} value={i.revision}>
            {versionLabel(i, now)}
          </option>
        ))}
      </select>
    </span>
  );
}

function RollbackOutcome({ id, target, answer }: { id: RouteId; target: number; answer: ChangeSet }) {
  const result = answer.changes[0]?.result;
  return (
    <div role="status" className="notice notice-success">
      <strong>
        {result === 'unchanged'
          ? `Nothing to roll back: the route is already as it was at revision ${target}.`
          : `Rolled back to revision ${target}: the route is now at revision ${answer.revision}${result ? ` (${result})` : ''}.`}
      </strong>{' '}
      {result !== 'unchanged' && (
        <>
          <Link to="/changes/$revision" params={{ revision: String(answer.revision) }}>
            Change set {answer.revision}
          </Link>{' '}
          ·{' '}
        </>
      )}
      <Link to="/routes/$tenant/$service/$environment" params={id}>
        The route
      </Link>
      {result !== 'unchanged' && <Propagation revision={answer.revision} />}
    </div>
  );
}

function rollbackError(error: unknown, onReload: () => void) {
  if (error instanceof TrafficManagerError && error.code === 'history_gone') {
    const oldest = error.problem?.['oldestRevision'];
    return (
      <div role="alert" className="notice notice-error">
        <strong>That version is no longer kept.</strong> The history of this route goes back to revision {typeof oldest === 'number' ? oldest : '?'} only.
      </div>
    );
  }
  if (error instanceof TrafficManagerError && error.status === 412) {
    return (
      <div role="alert" className="notice notice-error">
        <strong>Not rolled back: the route changed since this history was loaded.</strong> Reload it, check the differences again, and roll back if you still mean to.{' '}
        <button type="button" onClick={onReload}>
          Reload the history
        </button>
      </div>
    );
  }
  return <ErrorNotice error={error} />;
}

/** A route's versions, newest first; a diff between any two; rollback to one. */
export function HistoryPage() {
  const id = api.useParams();
  const { tenant, service, environment } = id;
  const key = `${tenant}/${service}/${environment}`;
  // Validated again: the router merges the raw query string into what historySearch kept.
  const search = historySearch(api.useSearch());
  const navigate = useNavigate({ from: '/routes/$tenant/$service/$environment/history' });
  const { apis, whoami } = useSession();
  const canWrite = hasScope(whoami, 'routes:write');
  const queryClient = useQueryClient();
  const now = useClock(5000);
  // The tenant's watch: a change of this route (here or anywhere) refreshes its history.
  const watch = useTenantWatch(tenant);
  const liveRevision = watch?.routes.get(key)?.change.revision;

  const history = useInfiniteQuery({
    queryKey: historyQueryKey(id),
    queryFn: ({ pageParam }) =>
      data(apis.command.GET('/v1/routes/{tenant}/{service}/{environment}/history', { params: { path: id, query: { limit: PAGE, ...(pageParam ? { cursor: pageParam } : {}) } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const { refetch } = history;
  useEffect(() => {
    if (liveRevision !== undefined) void refetch();
  }, [liveRevision, refetch]);
  const items = history.data?.pages.flatMap((p) => p.items) ?? [];
  const newest = items[0];
  const to = search.to ?? newest?.revision;
  const from = search.from ?? items[1]?.revision;
  const toItem = items.find((i) => i.revision === to);
  const fromItem = items.find((i) => i.revision === from);

  const [target, setTarget] = useState<HistoryItem | null>(null);
  const [done, setDone] = useState<{ target: number; answer: ChangeSet } | null>(null);
  const rollback = useMutation({
    mutationFn: ({ toRevision, ifMatch }: { toRevision: number; ifMatch: number | undefined }) =>
      data(
        apis.command.POST('/v1/routes/{tenant}/{service}/{environment}/rollback', {
          params: { path: id, ...(ifMatch !== undefined ? { header: { 'If-Match': `"${ifMatch}"` } } : {}) },
          body: { toRevision },
        }),
      ),
    onMutate: () => setDone(null),
    onSuccess: (answer, { toRevision }) => {
      setTarget(null);
      setDone({ target: toRevision, answer });
      queryClient.removeQueries({ queryKey: routeQueryKey(id) });
      void queryClient.invalidateQueries({ queryKey: healthQueryKey(id) });
      void queryClient.invalidateQueries({ queryKey: historyQueryKey(id) });
    },
    onError: () => setTarget(null),
  });

  const pick = (which: 'from' | 'to', revision: number) => void navigate({ search: (s) => ({ ...s, [which]: revision }), replace: true });
  const openRollback = (item: HistoryItem) => {
    rollback.reset();
    setTarget(item);
  };
  // The route as it is now: the newest version (a deletion: absent).
  const current = newest && newest.op === 'put' ? newest : null;

  return (
    <section className="history-page">
      <h1>
        <span className="count">History of </span>
        {key}
      </h1>
      <nav className="toolbar" aria-label="Route">
        <Link to="/routes/$tenant/$service/$environment" params={id}>
          The route
        </Link>
        <Link to="/routes" search={{ tenant }}>
          All routes of {tenant}
        </Link>
      </nav>
      {done && <RollbackOutcome id={id} target={done.target} answer={done.answer} />}
      {rollback.error && rollbackError(rollback.error, () => void history.refetch())}
      {history.isPending && <p role="status">Loading the history of {key}…</p>}
      {history.error && <ErrorNotice error={history.error} onRetry={() => void history.refetch()} />}
      {history.data && items.length === 0 && <p>No versions kept.</p>}
      {items.length > 0 && (
        <>
          <section aria-labelledby="versions-heading">
            <h2 id="versions-heading">Versions</h2>
            <table className="history-table">
              <caption className="sr-only">Versions of {key}, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Revision</th>
                  <th scope="col">When</th>
                  <th scope="col">Op</th>
                  <th scope="col">By</th>
                  <th scope="col">Description</th>
                  <th scope="col">Change set</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((item) => {
                  const at = Date.parse(item.at);
                  return (
                    <tr key={item.revision} data-revision={item.revision}>
                      <th scope="row">
                        {item.revision}
                        {item === newest && (
                          <>
                            {' '}
                            <span className="badge badge-new">current</span>
                          </>
                        )}
                      </th>
                      <td>
                        <time dateTime={item.at}>{absoluteTime(at)}</time> <span className="count">({relativeTime(at, now)})</span>
                      </td>
                      <td>
                        <span className={`badge ${item.op === 'delete' ? 'badge-bad' : 'badge-muted'}`}>{item.op}</span>
                      </td>
                      <td>{who(item.by)}</td>
                      <td>{item.description ?? <span className="count">none</span>}</td>
                      <td>
                        <Link to="/changes/$revision" params={{ revision: String(item.revision) }}>
                          {item.changeSetSize === null ? `change set ${item.revision}` : `${item.changeSetSize} route${item.changeSetSize === 1 ? '' : 's'}`}
                        </Link>
                      </td>
                      <td>
                        {canWrite && item !== newest && (
                          <button type="button" onClick={() => openRollback(item)}>
                            Roll back to {item.revision}…
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            {history.hasNextPage && (
              <button type="button" onClick={() => void history.fetchNextPage()} disabled={history.isFetchingNextPage}>
                {history.isFetchingNextPage ? 'Loading…' : 'Load more'}
              </button>
            )}
          </section>
          <section aria-labelledby="diff-heading">
            <h2 id="diff-heading">Compare two versions</h2>
            <div className="toolbar">
              <VersionPicker label="From" value={from} items={items} now={now} onChange={(r) => pick('from', r)} />
              <VersionPicker label="To" value={to} items={items} now={now} onChange={(r) => pick('to', r)} />
            </div>
            {items.length < 2 && !search.from && <p>Only one version: nothing to compare yet.</p>}
            {fromItem && toItem && (
              <DiffTable
                rows={diffRoutes(fromItem.route, toItem.route)}
                caption={`Changes from revision ${fromItem.revision} to revision ${toItem.revision}`}
                beforeLabel={`Revision ${fromItem.revision}${fromItem.op === 'delete' ? ' (deleted)' : ''}`}
                afterLabel={`Revision ${toItem.revision}${toItem.op === 'delete' ? ' (deleted)' : ''}`}
              />
            )}
          </section>
        </>
      )}
      <ConfirmDialog
        open={target !== null}
        title={target ? `Roll back ${key} to revision ${target.revision}?` : 'Roll back'}
        confirmLabel="Roll back"
        danger
        pending={rollback.isPending}
        onCancel={() => setTarget(null)}
        onConfirm={() => target && rollback.mutate({ toRevision: target.revision, ifMatch: current?.revision })}
      >
        {target && (
          <>
            <p>
              {target.op === 'delete'
                ? `At revision ${target.revision} the route was deleted: rolling back deletes it.`
                : `The route becomes what it was at revision ${target.revision}, in a new change set.`}{' '}
              {current ? `Only if it is still at revision ${current.revision}.` : 'It does not exist now: it is created again.'}
            </p>
            <DiffTable
              rows={diffRoutes(current?.route ?? null, target.route)}
              caption={`What changes: now (revision ${newest?.revision ?? '?'}) to revision ${target.revision}`}
              beforeLabel={`Now (revision ${newest?.revision ?? '?'})`}
              afterLabel={`After the rollback (as of ${target.revision})`}
            />
          </>
        )}
      </ConfirmDialog>
    </section>
  );
}
