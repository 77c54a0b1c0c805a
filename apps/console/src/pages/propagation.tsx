import { useId, useState } from 'react';
import { Link, getRouteApi, useNavigate } from '@tanstack/react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { data, TrafficManagerError } from '../api/api';
import type { components } from '../api/command-api.gen';
import { useApis } from '../session';
import { useNow, useWatchStatus } from '../watch-hub';
import { ErrorNotice } from '../errors';
import { RevisionForm } from '../route/revision-form';
import './propagation.css';

const api = getRouteApi('/revisions/$revision');

type Propagation = components['schemas']['PropagationResponse'] & {
  /** Optional (CONTRACT "Propagation"): data planes' own views of the revision, shown as they come. */
  dataPlanes?: Record<string, unknown>;
};

interface Polled {
  body: Propagation;
  /** performance.now() when the revision was first seen in sync. */
  inSyncAt: number | undefined;
}

/** How often a pending revision is asked about again. */
const POLL_MS = 400;

/** A revision as people type it: a non-negative integer (no sign, no exponent). */
export function parseRevision(value: string): number | undefined {
  const text = value.trim();
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Look up any revision's propagation. */
export function RevisionsPage() {
  const navigate = useNavigate();
  const watched = useWatchStatus();
  const current = watched?.status.revision;
  return (
    <section>
      <h1>Propagation</h1>
      <p>
        Where a committed revision has reached: published to Kafka, applied to the cache, held by every resolver replica&apos;s watch feed.
      </p>
      <RevisionForm
        label="Open a revision"
        submitLabel="Show"
        onRevision={(revision) => void navigate({ to: '/revisions/$revision', params: { revision: String(revision) } })}
      />
      {current !== undefined && watched && (
        <p>
          The watch of {watched.tenant} is at revision {current}:{' '}
          <Link to="/revisions/$revision" params={{ revision: String(current) }}>
            propagation of revision {current}
          </Link>
          .
        </p>
      )}
    </section>
  );
}

/** A revision's propagation, live until in sync. */
export function RevisionPage() {
  const { revision } = api.useParams();
  const parsed = parseRevision(revision);
  if (parsed === undefined) {
    return (
      <section>
        <h1>Propagation</h1>
        <div role="alert" className="notice notice-error">
          <strong>Not a revision</strong>
          <p>“{revision.slice(0, 40)}” is not a revision: a revision is a whole number, 0 or more.</p>
        </div>
        <p>
          <Link to="/revisions">Look up another revision</Link>
        </p>
      </section>
    );
  }
  return (
    <section>
      <h1>Propagation of revision {parsed}</h1>
      <p className="toolbar">
        <Link to="/changes/$revision" params={{ revision: String(parsed) }}>
          The change set at revision {parsed}
        </Link>
        <Link to="/revisions">Another revision</Link>
      </p>
      <PropagationStatus revision={parsed} />
    </section>
  );
}

function YesNo({ value, yes, no }: { value: boolean; yes: string; no: string }) {
  return <span className={`badge ${value ? 'badge-good' : 'badge-warn'}`}>{value ? yes : no}</span>;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

function when(iso: string | null): string {
  if (!iso) return 'unknown';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** A data plane's view, whatever its shape: scalars inline, the rest as JSON. */
function DataPlanes({ planes }: { planes: Record<string, unknown> }) {
  const entries = Object.entries(planes);
  if (entries.length === 0) return null;
  return (
    <>
      <h3>Data planes</h3>
      <dl className="propagation-facts">
        {entries.map(([name, value]) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd>
              {value === null || typeof value !== 'object' ? (
                String(value)
              ) : (
                <details>
                  <summary>{'status' in value ? String((value as { status: unknown }).status) : 'details'}</summary>
                  <pre className="json-view">{JSON.stringify(value, null, 2)}</pre>
                </details>
              )}
            </dd>
          </div>
        ))}
      </dl>
    </>
  );
}

/** Should a failed status request be tried again at once (a dependency down, the network), or shown? */
function transient(error: unknown): boolean {
  return error instanceof TrafficManagerError && (error.code === 'network' || error.code === 'unavailable' || error.code === 'timeout');
}

/**
 * A write's propagation, polled until in sync: published, the cache, each resolver replica. Used
 * after every save. `title` names it (a heading of level 2), omitted: "Propagation".
 */
export function PropagationStatus({ revision, title }: { revision: number; title?: string }) {
  const apis = useApis();
  const queryClient = useQueryClient();
  // When this component started watching the revision: "in sync after N s" counts from here.
  const [mountedAt] = useState(() => performance.now());
  const queryKey = ['propagation', revision] as const;
  const query = useQuery({
    queryKey,
    queryFn: async (): Promise<Polled> => {
      const body = (await data(apis.command.GET('/v1/revisions/{revision}', { params: { path: { revision } } }))) as Propagation;
      // The first moment it was seen in sync, kept when the query is fetched again (a refocus, an invalidation).
      const before = queryClient.getQueryData<Polled>(queryKey)?.inSyncAt;
      return { body, inSyncAt: before ?? (body.status === 'in-sync' ? performance.now() : undefined) };
    },
    // Until in sync (which is final); a failure stops it (shown, with a retry) unless the next poll may fix it.
    refetchInterval: (q) => (q.state.data?.body.status === 'in-sync' || (q.state.error && !transient(q.state.error)) ? false : POLL_MS),
    staleTime: (q) => (q.state.data?.body.status === 'in-sync' ? Infinity : 0),
    retry: (count, error) => transient(error) && count < 3,
  });
  const now = useNow(500);
  const body = query.data?.body;
  const inSync = body?.status === 'in-sync';
  const headingId = useId();

  let took: string | null = null;
  if (inSync && query.data?.inSyncAt !== undefined) {
    const ms = query.data.inSyncAt - mountedAt;
    took = ms < 0 ? 'it already was when this page opened' : `${seconds(ms)} after this page started watching`;
  }

  return (
    <section className="propagation" aria-labelledby={headingId} data-testid="propagation">
      <h2 id={headingId}>{title ?? 'Propagation'}</h2>
      {/* Announced once: the status word changes only when the revision is in sync. */}
      <p role="status" aria-live="polite" className="propagation-status">
        {body ? (
          inSync ? (
            <>
              <span className="badge badge-good">in sync</span> Revision {revision} is in sync{took ? ` (${took})` : ''}.
            </>
          ) : (
            <>
              <span className="badge badge-warn">pending</span> Revision {revision} is propagating…
            </>
          )
        ) : query.isPending ? (
          `Asking where revision ${revision} has reached…`
        ) : (
          ''
        )}
      </p>
      {body && !inSync && <p className="propagation-elapsed">Pending for {seconds(Math.max(0, now - mountedAt))}; checking every {POLL_MS} ms.</p>}
      {query.error && <PropagationError error={query.error} revision={revision} onRetry={() => void query.refetch()} />}
      {body && (
        <>
          <dl className="propagation-facts">
            <div>
              <dt>Committed at</dt>
              <dd>{body.committedAt ? when(body.committedAt) : 'unknown (its outbox rows are gone, or could not be read)'}</dd>
            </div>
            <div>
              <dt>Published to Kafka</dt>
              <dd>
                <YesNo value={body.published} yes="yes" no="not yet" />
              </dd>
            </div>
            <div>
              <dt>Cache applied</dt>
              <dd>
                <YesNo value={body.cacheApplied} yes="yes" no="not yet" />
              </dd>
            </div>
            <div>
              <dt>Checked at</dt>
              <dd>{when(body.checkedAt)}</dd>
            </div>
          </dl>
          <ResolverTable revision={revision} resolvers={body.resolvers} />
          {body.dataPlanes && <DataPlanes planes={body.dataPlanes} />}
        </>
      )}
    </section>
  );
}

function PropagationError({ error, revision, onRetry }: { error: unknown; revision: number; onRetry: () => void }) {
  if (error instanceof TrafficManagerError && error.status === 412) {
    return (
      <div role="alert" className="notice notice-error">
        <strong>Not committed yet</strong>
        <p>
          Revision {revision} is beyond the store&apos;s current revision (412){typeof error.problem?.detail === 'string' ? `: ${error.problem.detail}` : ''}. Nothing has
          been written at it.
        </p>
        <button type="button" onClick={onRetry}>
          Check again
        </button>
      </div>
    );
  }
  return <ErrorNotice error={error} onRetry={onRetry} />;
}

function ResolverTable({ revision, resolvers }: { revision: number; resolvers: Propagation['resolvers'] }) {
  if (resolvers.length === 0) {
    return <p>No resolver replica has reported in the last 10 minutes (or Redis did not answer).</p>;
  }
  const sorted = [...resolvers].sort((a, b) => (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0));
  return (
    <table className="resolver-table">
      <caption>Resolver replicas</caption>
      <thead>
        <tr>
          <th scope="col">Replica</th>
          <th scope="col">Feed revision</th>
          <th scope="col">Seen at</th>
          <th scope="col">Live</th>
        </tr>
      </thead>
      <tbody>
        {sorted.map((r) => {
          const behind = r.feedRevision < revision;
          return (
            <tr key={r.replica} className={behind && r.live ? 'replica-behind' : undefined} data-replica={r.replica}>
              <th scope="row" className="mono">
                {r.replica}
              </th>
              <td>
                {r.feedRevision}{' '}
                {behind ? (
                  <span className={`badge ${r.live ? 'badge-bad' : 'badge-muted'}`}>behind by {revision - r.feedRevision}</span>
                ) : (
                  <span className="badge badge-good">holds {revision}</span>
                )}
              </td>
              <td>{when(r.seenAt)}</td>
              <td>{r.live ? <span className="badge badge-good">live</span> : <span className="badge badge-muted">not live: does not hold the status back</span>}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
