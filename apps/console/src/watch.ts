import { WatchClient, type HealthChange, type ReceivedBookmark, type WatchChange, type WatchFailure, type WatchState } from '@tm/watch';
import { watchStaleness } from '@tm/contracts';

/** A route as the watch last gave it, and when it last changed while this page watched. */
export interface WatchedRoute {
  change: WatchChange;
  /** performance.now() of a live change (after the snapshot); undefined for what the snapshot gave. */
  changedAt: number | undefined;
}

/** Health frames by `tenant/service/environment#endpoint`. */
export function healthKey(route: string, endpoint: string): string {
  return `${route}#${endpoint}`;
}

/** The watch's state as the console shows it: always visible in the header. */
export interface WatchStatus {
  state: WatchState;
  /** How old the view is (ms), from the last bookmark's ageMs plus the time since; undefined before the first. */
  stalenessMs: number | undefined;
  /** Why the last connection ended, in words; undefined while connected. */
  failure: string | undefined;
  /** When the next attempt starts (performance.now()), while down. */
  retryAt: number | undefined;
  /** The HTTP status that refused the stream, when one did. */
  refusedStatus: number | undefined;
  revision: number | undefined;
}

/** Changes are marked this long after they arrive. */
export const CHANGE_MARK_MS = 10_000;

/**
 * One tenant's watch (`/v1/watch/{tenant}?health=true`): every route and every endpoint's health,
 * kept current, read by React with useSyncExternalStore (one version number per change).
 */
export class TenantWatch {
  readonly routes = new Map<string, WatchedRoute>();
  readonly health = new Map<string, HealthChange>();
  private client: WatchClient;
  private listeners = new Set<() => void>();
  private bookmark: ReceivedBookmark | undefined;
  private failure: WatchFailure | undefined;
  private retryAt: number | undefined;
  private stateNow: WatchState = 'connecting';
  /** Bumped on every change: the snapshot React reads. */
  version = 0;
  private notifyScheduled = false;

  constructor(
    readonly tenant: string,
    resolverUrl: string,
    apiKey: string,
    private readonly onRefused: (failure: WatchFailure & { kind: 'http' }) => void,
  ) {
    const url = `${resolverUrl.replace(/\/$/, '')}/v1/watch/${encodeURIComponent(tenant)}?health=true`;
    this.client = new WatchClient(
      { url, apiKey },
      {
        snapshot: (routes) => {
          this.routes.clear();
          for (const change of routes) if (change.kind === 'put') this.routes.set(change.key, { change, changedAt: undefined });
          this.changed();
        },
        change: (change) => {
          if (change.kind === 'delete') {
            // Its endpoints' health goes with it: a route created again later starts unknown.
            for (const endpoint of this.routes.get(change.key)?.change.endpoints ?? []) this.health.delete(healthKey(change.key, endpoint.id));
            this.routes.delete(change.key);
          }
          else this.routes.set(change.key, { change, changedAt: performance.now() });
          this.changed();
        },
        bookmark: (bookmark) => {
          this.bookmark = bookmark;
          this.changed();
        },
        health: (health) => {
          this.health.set(healthKey(`${health.tenant}/${health.service}/${health.environment}`, health.endpoint), health);
          this.changed();
        },
        reset: () => {
          this.bookmark = undefined;
          this.changed();
        },
        error: (failure) => {
          this.failure = failure;
          this.retryAt = performance.now() + failure.retryInMs;
          if (failure.kind === 'http' && (failure.status === 401 || failure.status === 403)) this.onRefused(failure);
          this.changed();
        },
        state: (state) => {
          this.stateNow = state;
          if (state === 'synced') {
            this.failure = undefined;
            this.retryAt = undefined;
          }
          this.changed();
        },
      },
    );
  }

  start(): this {
    this.client.start();
    return this;
  }

  close(): void {
    this.client.close();
    this.listeners.clear();
  }

  status(now = performance.now()): WatchStatus {
    const b = this.bookmark;
    return {
      state: this.stateNow,
      stalenessMs: b ? watchStaleness(b.ageMs, b.receivedAt, now) : undefined,
      failure: this.failure?.message,
      retryAt: this.retryAt,
      refusedStatus: this.failure?.kind === 'http' ? this.failure.status : undefined,
      revision: b?.revision,
    };
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  /** Coalesces a burst (a snapshot, a change set) into one render. */
  private changed(): void {
    this.version += 1;
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    queueMicrotask(() => {
      this.notifyScheduled = false;
      for (const listener of this.listeners) listener();
    });
  }
}
