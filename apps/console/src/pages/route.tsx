import { useEffect, useState } from 'react';
import { Link, getRouteApi } from '@tanstack/react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { normalisedPolicy, rankEndpoints, type EndpointState, type Health, type PolicyInput } from '@tm/contracts';
import { TrafficManagerError } from '../api/api';
import { ErrorNotice } from '../errors';
import { hasScope, useSession } from '../session';
import { useTenantWatch } from '../watch-hub';
import { healthKey, type TenantWatch } from '../watch';
import { diffValues } from '../diff';
import { Propagation } from '../route/propagation-region';
import { ConfirmDialog } from '../route/confirm-dialog';
import { DiffTable } from '../route/diff-table';
import { PolicyEditor, formOf } from '../route/policy-form';
import {
  deleteRoute,
  healthQueryKey,
  historyQueryKey,
  putRoute,
  readHealth,
  readRoute,
  routeQueryKey,
  type Loaded,
  type PutBody,
  type Route,
  type RouteId,
  type SaveCondition,
} from '../route/route-api';
import { absoluteTime, relativeTime, useClock } from '../route/time';
import './route.css';

const api = getRouteApi('/routes/$tenant/$service/$environment');

/** An endpoint as the page shows it: configuration, health (the watch's when it is as new), the last probe error. */
interface EndpointLine {
  id: string;
  url: string;
  priority: number;
  weight: number;
  state: EndpointState;
  health: Health;
  /** Epoch ms; undefined: undecided since its health began. */
  since: number | undefined;
  lastError: { message: string; at: string; prober: string } | null;
  verdicts: { fresh: number; healthy: number; unhealthy: number } | null;
}

function isStatus(error: unknown, status: number): boolean {
  return error instanceof TrafficManagerError && error.status === status;
}

/**
 * The route's endpoints with their health: the resolver's answer (GET .../health: since, last
 * error, verdicts), each endpoint's health taken from the watch instead when the watch's frame
 * belongs to the same health revision or a newer one (it arrives first).
 */
function endpointLines(route: Route, health: Awaited<ReturnType<typeof readHealth>> | undefined, watch: TenantWatch | null, key: string): EndpointLine[] {
  const fromResolver = health?.endpoints;
  const base = fromResolver ?? route.endpoints.map((e) => ({ ...e, health: 'unknown' as Health, since: null, lastError: null, verdicts: null, healthRevision: undefined }));
  return base.map((e) => {
    const w = watch?.health.get(healthKey(key, e.id));
    const useWatch = w !== undefined && (e.healthRevision === undefined || w.healthRevision >= e.healthRevision);
    const resolverSince = e.since ? Date.parse(e.since) : undefined;
    return {
      id: e.id,
      url: e.url,
      priority: e.priority,
      weight: e.weight,
      state: e.state,
      health: useWatch ? w.health : e.health,
      since: useWatch ? (w.since ?? (w.health === e.health ? resolverSince : undefined)) : resolverSince,
      lastError: e.lastError ?? null,
      verdicts: e.verdicts ?? null,
    };
  });
}

function HealthBadge({ health }: { health: Health }) {
  const cls = health === 'healthy' ? 'badge-good' : health === 'unhealthy' ? 'badge-bad' : 'badge-muted';
  return <span className={`badge ${cls}`}>{health}</span>;
}

/** Endpoints with live health, and the loud warnings: fail open, nothing enabled, health unavailable. */
function EndpointsPanel({ id, route, watch }: { id: RouteId; route: Route; watch: TenantWatch | null }) {
  const { apis } = useSession();
  const key = `${id.tenant}/${id.service}/${id.environment}`;
  const now = useClock(1000);
  const health = useQuery({
    queryKey: healthQueryKey(id),
    queryFn: () => readHealth(apis, id),
    enabled: apis.resolver !== null,
    // The watch says when health changes (below); polling covers what it does not carry (last errors).
    refetchInterval: 3000,
    staleTime: 0,
  });
  // Refetch when the watch's health of this route, or the route itself, changes.
  const live = watch?.routes.get(key);
  const signature = [
    live?.change.revision ?? '',
    ...(live?.change.endpoints ?? route.endpoints).map((e) => {
      const h = watch?.health.get(healthKey(key, e.id));
      return h ? `${e.id}:${h.health}:${h.since ?? ''}:${h.healthRevision}` : e.id;
    }),
  ].join('|');
  const { refetch } = health;
  useEffect(() => {
    void refetch();
  }, [signature, refetch]);

  const lines = endpointLines(route, health.data ?? undefined, watch, key);
  const probed = health.data ? health.data.probed : route.healthCheck != null;
  const ranking = rankEndpoints(lines);
  const failOpen = probed && ranking.failOpen;
  const nothingEligible = ranking.candidates.length === 0;
  return (
    <section aria-labelledby="endpoints-heading" className="endpoints-panel">
      <h2 id="endpoints-heading">Endpoints and health</h2>
      {failOpen && (
        <div role="alert" className="notice notice-error fail-open">
          <strong>Failing open: every {ranking.candidates[0]?.state === 'draining' ? 'draining' : 'enabled'} endpoint is unhealthy.</strong>
          <p>
            The resolver still answers with one of them (<code>failOpen: true</code>) rather than nothing, so callers are being sent to an endpoint that is
            probably down. Fix an endpoint, or add a healthy one.
          </p>
        </div>
      )}
      {nothingEligible && (
        <div role="alert" className="notice notice-error">
          <strong>No endpoint is enabled or draining.</strong> Resolving this route answers 404 <code>no_enabled_endpoint</code>.
        </div>
      )}
      {health.data && !health.data.healthAvailable && (
        <div role="status" className="notice notice-warning">
          Health is unavailable (the resolver could not read it from Redis): every endpoint counts as unknown, and answers go on.
        </div>
      )}
      {!apis.resolver && <p className="notice notice-warning">The console was given no resolver URL: health cannot be shown.</p>}
      {health.error && <ErrorNotice error={health.error} onRetry={() => void refetch()} />}
      <p className="count">
        {probed
          ? `Probed: ${route.healthCheck?.type ?? health.data?.healthCheck?.type ?? ''} every ${route.healthCheck?.intervalSeconds ?? health.data?.healthCheck?.intervalSeconds ?? '?'} s.`
          : 'Not probed (no health check): every endpoint is unknown, and eligible.'}
      </p>
      <table className="endpoints-table">
        <caption className="sr-only">Endpoints of {key}</caption>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">URL</th>
            <th scope="col">Priority</th>
            <th scope="col">Weight</th>
            <th scope="col">State</th>
            <th scope="col">Health</th>
            <th scope="col">Last probe error</th>
          </tr>
        </thead>
        <tbody>
          {lines.map((e) => (
            <tr key={e.id} data-endpoint={e.id}>
              <th scope="row">
                <code>{e.id}</code>
              </th>
              <td className="mono url-cell">{e.url}</td>
              <td>{e.priority}</td>
              <td>{e.weight}</td>
              <td>{e.state}</td>
              <td>
                <HealthBadge health={e.health} />{' '}
                {e.since !== undefined && (
                  <span className="since" title={absoluteTime(e.since)}>
                    since {relativeTime(e.since, now)}
                  </span>
                )}
                {e.verdicts && e.verdicts.fresh > 0 && (
                  <span className="verdicts">
                    {' '}
                    ({e.verdicts.healthy} healthy, {e.verdicts.unhealthy} unhealthy of {e.verdicts.fresh} prober{e.verdicts.fresh === 1 ? '' : 's'})
                  </span>
                )}
              </td>
              <td>
                {e.lastError ? (
                  <span className={e.health === 'healthy' ? 'last-error-past' : 'last-error'}>
                    {e.lastError.message}{' '}
                    <span className="count" title={absoluteTime(Date.parse(e.lastError.at))}>
                      ({relativeTime(Date.parse(e.lastError.at), now)}, {e.lastError.prober})
                    </span>
                  </span>
                ) : (
                  <span className="count">none</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A route's configuration as a conflict compares it (its `url` follows from its endpoints). */
function configOf(policy: Pick<Route, 'endpoints' | 'healthCheck'> | null): unknown {
  return policy ? { endpoints: policy.endpoints, healthCheck: policy.healthCheck ?? null } : null;
}

/** A 412 on save: yours and the current version side by side, then overwrite or take theirs. */
function ConflictView({
  id,
  mine,
  pending,
  onOverwrite,
  onTakeTheirs,
}: {
  id: RouteId;
  mine: PutBody;
  pending: boolean;
  onOverwrite(condition: SaveCondition): void;
  onTakeTheirs(current: Loaded | null): void;
}) {
  const { apis } = useSession();
  const current = useQuery({ queryKey: [...routeQueryKey(id), 'current'], queryFn: () => readRoute(apis, id), staleTime: 0, gcTime: 0 });
  const yours = normalisedPolicy(mine as PolicyInput);
  return (
    <section role="region" aria-labelledby="conflict-heading" className="conflict notice notice-warning">
      <h2 id="conflict-heading">Someone else changed this route while you edited it</h2>
      {current.isPending && <p role="status">Reading the current version…</p>}
      {current.error && <ErrorNotice error={current.error} onRetry={() => void current.refetch()} />}
      {current.data !== undefined && (
        <>
          <p>
            {current.data
              ? `It is now at revision ${current.data.route.revision} (changed ${absoluteTime(Date.parse(current.data.route.updatedAt))}). Your save was not applied.`
              : 'It was deleted meanwhile. Your save was not applied.'}
          </p>
          <DiffTable
            rows={diffValues(configOf(current.data?.route ?? null), configOf(yours))}
            caption="The current version and yours, field by field"
            beforeLabel={current.data ? `Current (revision ${current.data.route.revision})` : 'Current (deleted)'}
            afterLabel="Yours"
            markers={{ added: 'only yours', removed: 'only current', changed: 'differs', unchanged: 'same' }}
            showUnchangedToggle={false}
          />
          <div className="toolbar">
            <button
              type="button"
              className="danger"
              disabled={pending}
              onClick={() => onOverwrite(current.data ? { ifMatch: current.data.etag } : { ifAbsent: true })}
            >
              Keep mine and overwrite
            </button>
            <button type="button" onClick={() => onTakeTheirs(current.data ?? null)} disabled={pending}>
              Take theirs
            </button>
          </div>
        </>
      )}
    </section>
  );
}

interface SaveOutcome {
  revision: number;
  kind: 'created' | 'updated' | 'unchanged';
}

function SavedNotice({ id, outcome }: { id: RouteId; outcome: SaveOutcome }) {
  return (
    <div role="status" className="notice notice-success saved">
      <strong>
        {outcome.kind === 'unchanged'
          ? `Nothing to save: the route already has this policy (revision ${outcome.revision}).`
          : `${outcome.kind === 'created' ? 'Created' : 'Saved'}: revision ${outcome.revision}.`}
      </strong>{' '}
      {outcome.kind !== 'unchanged' && (
        <>
          <Link to="/changes/$revision" params={{ revision: String(outcome.revision) }}>
            Change set {outcome.revision}
          </Link>{' '}
          ·{' '}
        </>
      )}
      <Link to="/routes/$tenant/$service/$environment/history" params={id}>
        History
      </Link>
      {outcome.kind !== 'unchanged' && <Propagation revision={outcome.revision} />}
    </div>
  );
}

/** A route: its endpoints with live health, its policy edited (per-field errors, conflicts), save and delete. */
export function RoutePage() {
  const id = api.useParams();
  const { tenant, service, environment } = id;
  const key = `${tenant}/${service}/${environment}`;
  const { apis, whoami } = useSession();
  const canWrite = hasScope(whoami, 'routes:write');
  const queryClient = useQueryClient();
  const watch = useTenantWatch(tenant);
  const now = useClock(5000);

  // The version the form was loaded from: kept until the user reloads or saves (staleTime Infinity), so
  // that its ETag is what the user saw.
  const route = useQuery({ queryKey: routeQueryKey(id), queryFn: () => readRoute(apis, id), staleTime: Infinity });
  const [formGeneration, setFormGeneration] = useState(0);
  const [outcome, setOutcome] = useState<SaveOutcome | null>(null);
  const [conflict, setConflict] = useState<PutBody | null>(null);
  const [deletedAt, setDeletedAt] = useState<number | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);

  const afterWrite = () => {
    void queryClient.invalidateQueries({ queryKey: healthQueryKey(id) });
    void queryClient.invalidateQueries({ queryKey: historyQueryKey(id) });
  };

  const save = useMutation({
    mutationFn: ({ body, condition }: { body: PutBody; condition: SaveCondition }) => putRoute(apis, id, body, condition),
    onMutate: () => {
      setOutcome(null);
    },
    onSuccess: (saved, { condition }) => {
      // The revision the save was conditioned on (after a conflict: the version it overwrote).
      const before = 'ifMatch' in condition ? Number(condition.ifMatch.replace(/^W\//, '').replace(/"/g, '')) : undefined;
      queryClient.setQueryData(routeQueryKey(id), saved.loaded);
      setOutcome({ revision: saved.loaded.route.revision, kind: saved.created ? 'created' : saved.loaded.route.revision === before ? 'unchanged' : 'updated' });
      setConflict(null);
      setDeletedAt(null);
      setFormGeneration((g) => g + 1);
      afterWrite();
    },
    onError: (error, { body }) => {
      if (isStatus(error, 412)) setConflict(body);
    },
  });

  const remove = useMutation({
    mutationFn: (ifMatch: string) => deleteRoute(apis, id, ifMatch),
    onSuccess: (revision) => {
      setConfirmDelete(false);
      setDeletedAt(revision);
      setOutcome(null);
      setConflict(null);
      queryClient.setQueryData(routeQueryKey(id), null);
      queryClient.removeQueries({ queryKey: healthQueryKey(id) });
      void queryClient.invalidateQueries({ queryKey: historyQueryKey(id) });
    },
    onError: () => setConfirmDelete(false),
  });

  const reload = () => {
    setConflict(null);
    setOutcome(null);
    save.reset();
    remove.reset();
    void route.refetch().then(() => setFormGeneration((g) => g + 1));
  };

  const loaded = route.data;
  const live = watch?.routes.get(key);
  const watchStatus = watch?.status();
  const changedSince = loaded && live && live.change.revision > loaded.route.revision ? live.change.revision : undefined;
  const deletedSince =
    loaded && watch && !live && watchStatus?.revision !== undefined && watchStatus.revision >= loaded.route.revision && watchStatus.state === 'synced';
  // A 412 on save: both versions, field by field (on the page of a route, or of one deleted meanwhile).
  const conflictView = conflict && (
    <ConflictView
      id={id}
      mine={conflict}
      pending={save.isPending}
      onOverwrite={(condition) => save.mutate({ body: conflict, condition })}
      onTakeTheirs={(current) => {
        queryClient.setQueryData(routeQueryKey(id), current);
        setConflict(null);
        save.reset();
        setFormGeneration((g) => g + 1);
      }}
    />
  );
  const saveError = save.error && !isStatus(save.error, 412) && !(save.error instanceof TrafficManagerError && save.error.code === 'bad_request') ? save.error : null;

  return (
    <section className="route-page">
      <h1>
        <span className="count">Route </span>
        {key}
      </h1>
      <nav className="toolbar" aria-label="Route">
        <Link to="/routes" search={{ tenant }}>
          All routes of {tenant}
        </Link>
        <Link to="/routes/$tenant/$service/$environment/history" params={id}>
          History
        </Link>
      </nav>
      {route.isPending && <p role="status">Loading {key}…</p>}
      {route.error && <ErrorNotice error={route.error} onRetry={() => void route.refetch()} />}
      {loaded === null && (
        <>
          {deletedAt !== null ? (
            <div role="status" className="notice notice-success">
              <strong>Deleted at revision {deletedAt}.</strong>{' '}
              <Link to="/routes" search={{ tenant }}>
                Back to the routes of {tenant}
              </Link>{' '}
              ·{' '}
              <Link to="/changes/$revision" params={{ revision: String(deletedAt) }}>
                Change set {deletedAt}
              </Link>
              <Propagation revision={deletedAt} />
            </div>
          ) : (
            <div role="status" className="notice notice-warning">
              The route {key} does not exist.{canWrite ? ' Create it with the form below.' : ''}
            </div>
          )}
          {outcome && <SavedNotice id={id} outcome={outcome} />}
          {conflictView}
          {saveError && <ErrorNotice error={saveError} />}
          {canWrite && (
            <section aria-labelledby="create-heading">
              <h2 id="create-heading">Create {key}</h2>
              <PolicyEditor
                key={`new-${formGeneration}`}
                initial={formOf(null)}
                submitLabel="Create route"
                pending={save.isPending}
                error={save.error}
                onSubmit={(body) => save.mutate({ body, condition: { ifAbsent: true } })}
              />
            </section>
          )}
        </>
      )}
      {loaded && (
        <>
          <p className="route-meta">
            Revision <strong data-testid="route-revision">{loaded.route.revision}</strong> · updated{' '}
            <span title={absoluteTime(Date.parse(loaded.route.updatedAt))}>{relativeTime(Date.parse(loaded.route.updatedAt), now)}</span> · first choice{' '}
            <code>{loaded.route.url}</code>
          </p>
          {changedSince !== undefined && (
            <div role="status" className="notice notice-warning">
              This route changed since it was loaded: it is now at revision {changedSince} (you loaded {loaded.route.revision}).{' '}
              <button type="button" onClick={reload}>
                Reload
              </button>
            </div>
          )}
          {deletedSince && (
            <div role="status" className="notice notice-warning">
              This route was deleted since it was loaded.{' '}
              <button type="button" onClick={reload}>
                Reload
              </button>
            </div>
          )}
          {outcome && <SavedNotice id={id} outcome={outcome} />}
          <EndpointsPanel id={id} route={loaded.route} watch={watch} />
          {conflictView}
          {saveError && <ErrorNotice error={saveError} />}
          {remove.error && (
            <>
              {isStatus(remove.error, 412) ? (
                <div role="alert" className="notice notice-error">
                  Not deleted: the route changed since you loaded it (revision {loaded.route.revision}). Reload it, look, and delete again if you still mean to.{' '}
                  <button type="button" onClick={reload}>
                    Reload
                  </button>
                </div>
              ) : (
                <ErrorNotice error={remove.error} />
              )}
            </>
          )}
          <section aria-labelledby="policy-heading">
            <h2 id="policy-heading">Policy</h2>
            {!canWrite && <p className="count">This key cannot change routes (it lacks routes:write): the form is read only.</p>}
            <PolicyEditor
              readOnly={!canWrite}
              key={`${loaded.route.revision}-${formGeneration}`}
              initial={formOf(loaded.route)}
              submitLabel="Save"
              pending={save.isPending}
              error={save.error}
              onSubmit={(body) => save.mutate({ body, condition: { ifMatch: loaded.etag } })}
              extra={
                canWrite && (
                  <button type="button" className="danger" onClick={() => setConfirmDelete(true)}>
                    Delete route…
                  </button>
                )
              }
            />
          </section>
          <ConfirmDialog
            open={confirmDelete}
            title={`Delete ${key}?`}
            confirmLabel="Delete"
            danger
            pending={remove.isPending}
            onCancel={() => setConfirmDelete(false)}
            onConfirm={() => remove.mutate(loaded.etag)}
          >
            <p>
              Resolving it will answer 404 everywhere once the deletion has propagated. Only if it is still at revision {loaded.route.revision} (what this page shows);
              its history stays, and a rollback can bring it back.
            </p>
          </ConfirmDialog>
        </>
      )}
    </section>
  );
}
