import type { HealthCheck, PolicyEndpoint, RouteId } from '@tm/contracts';
import { WatchClient, type WatchChange, type WatchFailure } from '@tm/watch';

/** A route the probers probe: one with a health check. */
export interface ProbedRoute {
  id: RouteId;
  revision: number;
  endpoints: PolicyEndpoint[];
  healthCheck: HealthCheck;
}

export interface RouteFeedListener {
  /** The whole set, after a snapshot (the first, or a new one after a compaction). */
  replaced(routes: ReadonlyMap<string, ProbedRoute>): void;
  /** One route changed: its new state, or undefined when it is gone or no longer probed. */
  changed(key: string, route: ProbedRoute | undefined): void;
  /** The stream is up (true) or down (false). */
  connection(up: boolean, reason?: string): void;
}

const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 5_000;

/** The probed route of a put, or undefined (a delete, or a route not probed). */
function probedRoute(change: WatchChange): ProbedRoute | undefined {
  if (change.kind === 'delete' || change.url === null || change.healthCheck === null) return undefined;
  const { tenant, service, environment, revision, endpoints, healthCheck } = change;
  return { id: { tenant, service, environment }, revision, endpoints, healthCheck };
}

function reasonOf(failure: WatchFailure): string {
  if (failure.kind !== 'http' || (failure.status !== 401 && failure.status !== 403)) return failure.message;
  return `${failure.message}: PROBER_API_KEY must be a stored key with routes:read on every tenant`;
}

/**
 * The routes to probe, from the resolver's watch of every tenant (`GET /v1/watch` with a key that
 * spans tenants, through @tm/watch): a snapshot, then every change, resumed from the last revision
 * after a disconnect (a new snapshot when that revision is compacted). Kafka alone would have no snapshot.
 */
export class RouteFeed {
  private routes = new Map<string, ProbedRoute>();
  private readonly watch: WatchClient;
  /** Whether the stream has been up since the last report of it down (a down is reported once). */
  private reportedDown = false;

  constructor(resolverUrl: string, apiKey: string, listener: RouteFeedListener) {
    this.watch = new WatchClient(
      { url: new URL('/v1/watch', resolverUrl).href, apiKey, backoffBaseMs: BACKOFF_BASE_MS, backoffMaxMs: BACKOFF_MAX_MS },
      {
        snapshot: (changes) => {
          this.routes = new Map();
          for (const change of changes) {
            const route = probedRoute(change);
            if (route) this.routes.set(change.key, route);
          }
          listener.replaced(this.routes);
        },
        change: (change) => {
          const current = this.routes.get(change.key);
          if (current && current.revision >= change.revision) return;
          const route = probedRoute(change);
          if (route) this.routes.set(change.key, route);
          else if (!current) return;
          else this.routes.delete(change.key);
          listener.changed(change.key, route);
        },
        state: (state) => {
          if (state === 'synced') {
            this.reportedDown = false;
            listener.connection(true);
          }
        },
        error: (failure) => {
          if (this.reportedDown) return;
          this.reportedDown = true;
          listener.connection(false, reasonOf(failure));
        },
      },
    );
  }

  /** True while the stream is up and the snapshot is done. */
  get synced(): boolean {
    return this.watch.synced;
  }

  start(): void {
    this.watch.start();
  }

  stop(): void {
    this.watch.close();
  }
}
