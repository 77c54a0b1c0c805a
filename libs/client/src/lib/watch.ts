import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { routeKey, watchStaleness, type EndpointView, type Health, type HealthCheck, type PolicyEndpoint, type RankedEndpoints, type RouteId } from '@tm/contracts';
import {
  parseBookmark,
  parseChange,
  parseHealth,
  WatchClient,
  type HealthChange,
  type ReceivedBookmark,
  type RouteChange,
  type WatchChange,
  type WatchFailure,
  type WatchFetch,
  type WatchRequestInit,
  type WatchResponse,
  type WatchState,
} from '@tm/watch';
import { httpError, TrafficManagerError } from './errors';

export type { WatchState };
/** The frame readers the CLI's `tm watch` prints with (the watch's own, from @tm/watch). */
export { parseBookmark, parseChange };
/** An `event: health` frame's data; undefined when it is not one. */
export const parseHealthFrame = parseHealth;

export interface RouteEntry {
  /** `tenant/service/environment`. */
  key: string;
  /** The configuration's first choice (what a single-URL route is). */
  url: string;
  revision: number;
  /** The route's endpoints, each with the revision its health belongs to. */
  endpoints: PolicyEndpoint[];
  healthCheck: HealthCheck | null;
  /**
   * The answer's part that needs no selection: a route of one endpoint, not probed, enabled or
   * draining (every single-URL route). Undefined: the lookup selects (selectEndpoint).
   */
  fixed: { url: string; endpoints: readonly EndpointView[] } | undefined;
  /** The endpoints ranked with their health as of the watch's `healthVersion` `rankedAt` (by the first lookup after a change). */
  ranking: RankedEndpoints | undefined;
  rankedAt: number;
}

/** An endpoint's health as the watch's `event: health` frames give it. */
export interface HealthRecord {
  health: Health;
  /** The health revision it belongs to: health of another revision (a re-pointed endpoint) is ignored. */
  healthRevision: number;
  /** Epoch ms since when (0: not known). */
  since: number;
}

/** A view entry of a route's data. */
export function routeEntry(key: string, url: string, revision: number, endpoints: PolicyEndpoint[], healthCheck: HealthCheck | null): RouteEntry {
  const only = endpoints.length === 1 ? endpoints[0] : undefined;
  const fixed =
    only && healthCheck === null && only.state !== 'disabled'
      ? { url: only.url, endpoints: Object.freeze([Object.freeze({ id: only.id, url: only.url, priority: only.priority, weight: only.weight, state: only.state, health: 'unknown' as const })]) }
      : undefined;
  return { key, url, revision, endpoints, healthCheck, fixed, ranking: undefined, rankedAt: -1 };
}

export interface WatchHooks {
  state(tenant: string, state: WatchState): void;
  error(tenant: string, error: TrafficManagerError): void;
  /** A bookmark arrived or the view changed: waiting lookups look again. */
  progress(watch: TenantWatch): void;
}

export interface WatchConfig {
  resolverUrl: string;
  apiKey: string | undefined;
  /** Backoff bounds (tests shorten them). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** The watch's transport (default unrefFetch; tests hand a stream over chunk by chunk). */
  fetch?: WatchFetch | undefined;
}

/**
 * One tenant's watch (`GET /v1/watch/{tenant}?health=true`, the protocol in @tm/watch) and the view
 * it feeds: the tenant's routes as of its last bookmark. Read on the hot path through `routes`,
 * `synced` and the bookmark fields.
 */
export class TenantWatch {
  /** The tenant's routes, by service and environment and by route key: a lookup builds no string. */
  routes = new RouteView();
  /**
   * The health of probed routes' endpoints (route key, then endpoint id), from the stream's
   * `event: health` frames (`?health=true`): the current health after the snapshot or a resume,
   * then every change the probers decide. Kept across reconnects (the resume sends it again).
   */
  readonly health = new Map<string, Map<string, HealthRecord>>();
  /** Counts the health changes applied: an entry's `views` older than it are built again. */
  healthVersion = 0;
  /** True while the snapshot is done and the stream is up. */
  synced = false;
  state: WatchState = 'connecting';
  /**
   * The view's as-of revision: every change up to it is in the view. A bookmark raises it, and so does
   * the last change of a revision applied after the snapshot (the one with the `id` line: the stream
   * sends revisions whole, in order, with no gap, so the view then holds everything up to that id).
   * -1 before the first bookmark.
   */
  asOf = -1;
  bookmarkAgeMs = 0;
  /** performance.now() when the last bookmark arrived. */
  bookmarkReceivedAt = 0;
  /** For the LRU: the client's use counter at the last lookup. */
  lastUsed = 0;
  /** `tenant/`: the start of every route key of the tenant. */
  readonly prefix: string;
  /** The last error of the stream (for stats and auth failures). */
  lastError: TrafficManagerError | undefined;

  private closed = false;
  private readonly client: WatchClient;

  constructor(
    readonly tenant: string,
    config: WatchConfig,
    private readonly hooks: WatchHooks,
  ) {
    this.prefix = `${tenant}/`;
    this.hooks.state(tenant, 'connecting');
    this.client = new WatchClient(
      {
        // Health too: memory answers select among a route's endpoints by it.
        url: `${config.resolverUrl}/v1/watch/${encodeURIComponent(tenant)}?health=true`,
        apiKey: config.apiKey,
        backoffBaseMs: config.backoffBaseMs,
        backoffMaxMs: config.backoffMaxMs,
        fetch: config.fetch ?? unrefFetch,
      },
      {
        snapshot: (routes) => this.onSnapshot(routes),
        // The changes of a revision come back to back once its last frame arrived (@tm/watch): applied
        // in one synchronous run, so a lookup never sees part of a change set.

        change: (change) => this.onChange(change),
        bookmark: (bookmark) => this.onBookmark(bookmark),
        health: (change) => {
          if (change.tenant === this.tenant) this.applyHealth(change);
        },
        reset: () => this.dropView(),
        error: (failure) => this.onFailure(failure),
        state: (state) => {
          if (state === 'synced') this.markSynced();
        },
      },
    ).start();
  }

  /** The view's staleness now, on this process's monotonic clock (Infinity before any bookmark). */
  stalenessMs(now = performance.now()): number {
    return this.asOf < 0 ? Infinity : watchStaleness(this.bookmarkAgeMs, this.bookmarkReceivedAt, now);
  }

  /** The entry of a route in the view (whatever the view's state). */
  entry(service: string, environment: string): RouteEntry | undefined {
    return this.routes.byName.get(service)?.get(environment);
  }

  /** Whether a lookup is worth waiting for: the first snapshot is on its way, or the stream is up. */
  get promising(): boolean {
    return !this.closed && (this.state === 'connecting' || this.synced);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.synced = false;
    this.client.close();
    this.routes = new RouteView();
    this.health.clear();
    this.setState('closed');
    this.hooks.progress(this);
  }

  private onSnapshot(routes: WatchChange[]): void {
    const view = new RouteView();
    for (const change of routes) {
      if (change.kind === 'put' && change.tenant === this.tenant) view.set(change, routeEntry(change.key, change.url ?? '', change.revision, change.endpoints, change.healthCheck));
    }
    this.routes = view;
  }

  private onChange(change: WatchChange): void {
    if (change.tenant !== this.tenant) return;
    this.apply(change.kind === 'delete' || change.url === null ? null : change.url, change);
    if (change.id !== undefined && change.id > this.asOf && this.asOf >= 0) {
      this.asOf = change.id;
      this.hooks.progress(this);
    }
  }

  private onBookmark(bookmark: ReceivedBookmark): void {
    this.asOf = Math.max(this.asOf, bookmark.revision);
    this.bookmarkAgeMs = Math.max(0, bookmark.ageMs);
    this.bookmarkReceivedAt = bookmark.receivedAt;
    this.markSynced();
    this.hooks.progress(this);
  }

  /** The stream is over: down (the watch reconnects after its backoff or the server's Retry-After). */
  private onFailure(failure: WatchFailure): void {
    if (this.closed) return;
    this.synced = false;
    this.lastError = errorOf(this.tenant, failure);
    this.setState('down');
    this.hooks.error(this.tenant, this.lastError);
    this.hooks.progress(this);
  }

  private apply(url: string | null, change: RouteChange): void {
    const current = this.entry(change.service, change.environment);
    if (current && current.revision > change.revision) return;
    if (url === null) {
      this.routes.delete(change);
      if (this.health.delete(change.key)) this.healthVersion++;
    } else {
      this.routes.set(change, routeEntry(change.key, url, change.revision, change.endpoints, change.healthCheck));
    }
  }

  /**
   * An endpoint's health: of a newer health revision than the one held, or of the same with a
   * `since` not older (the current health sent at a start may repeat a change relayed meanwhile;
   * the later `since` holds; an expiry's unknown comes with one too). A frame of the held revision
   * that gives no `since` (an older server) is applied as the latest word: dropping it could keep
   * an endpoint's old health forever.
   */
  private applyHealth(change: HealthChange): void {
    const key = routeKey(change);
    let endpoints = this.health.get(key);
    if (endpoints === undefined) {
      endpoints = new Map();
      this.health.set(key, endpoints);
    }
    const held = endpoints.get(change.endpoint);
    const same = held !== undefined && held.healthRevision === change.healthRevision;
    if (held && (held.healthRevision > change.healthRevision || (same && change.since !== undefined && held.since > change.since))) return;
    const since = change.since ?? (same ? held.since : 0);
    endpoints.set(change.endpoint, { health: change.health, healthRevision: change.healthRevision, since });
    this.healthVersion++;
  }

  /** The health of a route's endpoint: unknown unless the probers' health of its health revision is known. */
  healthOf(key: string, endpoint: PolicyEndpoint): Health {
    const record = this.health.get(key)?.get(endpoint.id);
    return record !== undefined && record.healthRevision === endpoint.healthRevision ? record.health : 'unknown';
  }

  private markSynced(): void {
    if (this.synced || this.closed) return;
    this.synced = true;
    this.lastError = undefined;
    this.setState('synced');
  }

  private dropView(): void {
    this.routes = new RouteView();
    this.asOf = -1;
  }

  private setState(state: WatchState): void {
    if (this.state === state) return;
    this.state = state;
    this.hooks.state(this.tenant, state);
  }
}

/** A failure of the watch as the SDK reports it: the HTTP answer's error, or a network or timeout error. */
export function errorOf(tenant: string, failure: WatchFailure): TrafficManagerError {
  switch (failure.kind) {
    case 'http':
      return httpError(failure.status, failure.statusText, failure.body, failure.retryAfter);
    case 'silent':
      return new TrafficManagerError('timeout', `watch ${tenant}: ${failure.message}`);
    case 'network':
      return new TrafficManagerError('network', `watch ${tenant}: ${failure.message}`, { cause: failure.cause });
    case 'ended':
      return new TrafficManagerError('network', `watch ${tenant}: ${failure.message}`);
  }
}

/**
 * The watch's transport: `fetch`'s shape over node:http, with a connection of its own (no agent pool)
 * whose socket is unref()'d, so an open watch never keeps the caller's process alive (the global
 * fetch's socket would).
 */
export function unrefFetch(url: string, init: WatchRequestInit): Promise<WatchResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    // Never lent to another request: its socket is unref()'d.
    const req = request(target, { method: init.method, headers: init.headers, agent: false });
    const abort = (): void => {
      req.destroy(new TrafficManagerError('aborted', 'the watch was closed'));
    };
    if (init.signal.aborted) abort();
    else init.signal.addEventListener('abort', abort, { once: true });
    req.on('close', () => init.signal.removeEventListener('abort', abort));
    req.on('socket', (socket) => socket.unref());
    req.on('error', reject);
    req.on('response', (res) => {
      let done = false;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          res.on('data', (chunk: Uint8Array) => {
            if (!done) controller.enqueue(chunk);
          });
          res.on('end', () => {
            if (done) return;
            done = true;
            controller.close();
          });
          const broken = (e: Error): void => {
            if (done) return;
            done = true;
            controller.error(e);
          };
          res.on('error', broken);
          res.on('close', () => broken(new Error('aborted')));
        },
        cancel() {
          done = true;
          res.destroy();
        },
      });
      resolve({
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? '',
        headers: {
          get(name: string): string | null {
            const value = res.headers[name.toLowerCase()];
            return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
          },
        },
        body,
      });
    });
    req.end();
  });
}

/** One tenant's routes, indexed twice (the entries are shared): by service then environment, and by route key. */
export class RouteView {
  readonly byName = new Map<string, Map<string, RouteEntry>>();
  readonly byKey = new Map<string, RouteEntry>();

  get size(): number {
    return this.byKey.size;
  }

  set(id: RouteId, entry: RouteEntry): void {
    let envs = this.byName.get(id.service);
    if (!envs) {
      envs = new Map();
      this.byName.set(id.service, envs);
    }
    envs.set(id.environment, entry);
    this.byKey.set(entry.key, entry);
  }

  delete(id: RouteId): void {
    const envs = this.byName.get(id.service);
    envs?.delete(id.environment);
    if (envs?.size === 0) this.byName.delete(id.service);
    this.byKey.delete(routeKey(id));
  }
}
