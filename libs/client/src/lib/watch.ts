import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  HEALTH_VALUES,
  parseRevision,
  policyOfData,
  WatchEvents,
  WatchHeaders,
  watchStaleness,
  type EndpointView,
  type Health,
  type HealthCheck,
  type PolicyEndpoint,
  type RankedEndpoints,
  type RouteEvent,
  type WatchBookmark,
} from '@tm/contracts';
import { httpError, parseRetryAfter, TrafficManagerError } from './errors';
import { SseParser, type SseEvent } from './sse';

export type WatchState = 'connecting' | 'synced' | 'down' | 'closed';

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
}

const DEFAULT_BOOKMARK_INTERVAL_MS = 5000;
/** A watch silent for this many bookmark intervals is down. */
const SILENT_INTERVALS = 3;
/** The longest a 503's or a 429's Retry-After makes the watch wait. */
const MAX_RETRY_AFTER_MS = 60_000;
const MAX_ERROR_BODY = 16_384;

/**
 * One tenant's watch (`GET /v1/watch/{tenant}`) and the view it feeds: the tenant's routes as of
 * its last bookmark. Read on the hot path through `routes`, `synced` and the bookmark fields.
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
   * each change applied after the snapshot (the stream sends them in revision order with no gap, so
   * the view then holds everything up to that change's id). -1 before the first bookmark.
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

  private snapshotDone = false;
  /** The snapshot being received (puts without id), swapped in by its bookmark. */
  private pending: RouteView | undefined;
  /** The last revision seen (a bookmark's or an event's id): where a resume starts. */
  private lastEventId: number | undefined;
  private req: ClientRequest | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;
  private generation = 0;

  constructor(
    readonly tenant: string,
    private readonly config: WatchConfig,
    private readonly hooks: WatchHooks,
  ) {
    this.prefix = `${tenant}/`;
    this.hooks.state(tenant, 'connecting');
    this.connect();
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
    this.stopStream();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.routes = new RouteView();
    this.health.clear();
    this.setState('closed');
    this.hooks.progress(this);
  }

  private connect(): void {
    if (this.closed) return;
    const generation = ++this.generation;
    const resume = this.snapshotDone && this.lastEventId !== undefined;
    if (!resume) {
      this.snapshotDone = false;
      this.pending = undefined;
    }
    const url = new URL(`${this.config.resolverUrl}/v1/watch/${encodeURIComponent(this.tenant)}`);
    // Health too: memory answers select among a route's endpoints by it.
    url.searchParams.set('health', 'true');
    const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache' };
    if (this.config.apiKey !== undefined) headers['authorization'] = `Bearer ${this.config.apiKey}`;
    if (resume) headers[WatchHeaders.lastEventId] = String(this.lastEventId);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    // A connection of its own (no agent pool): its socket is unref()'d, and must never be lent to another request.
    const req = request(url, { method: 'GET', headers, agent: false });
    this.req = req;
    // The watch never keeps the caller's process alive.
    req.on('socket', (socket) => socket.unref());
    req.on('response', (res) => this.onResponse(generation, res));
    req.on('error', (e) => this.fail(generation, new TrafficManagerError('network', `watch ${this.tenant}: ${e.message}`, { cause: e })));
    this.armSilence(generation, DEFAULT_BOOKMARK_INTERVAL_MS);
    req.end();
  }

  private onResponse(generation: number, res: IncomingMessage): void {
    if (generation !== this.generation) {
      res.destroy();
      return;
    }
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      this.readErrorBody(generation, res, status);
      return;
    }
    const intervalHeader = res.headers[WatchHeaders.bookmarkInterval];
    const interval = typeof intervalHeader === 'string' ? Number(intervalHeader) : NaN;
    const bookmarkIntervalMs = Number.isFinite(interval) && interval > 0 ? interval : DEFAULT_BOOKMARK_INTERVAL_MS;
    this.armSilence(generation, bookmarkIntervalMs);
    if (this.snapshotDone) this.markSynced();
    const parser = new SseParser((event) => {
      if (generation === this.generation) this.onEvent(event);
    });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (generation !== this.generation) return;
      this.silenceTimer?.refresh();
      parser.push(chunk);
    });
    res.on('end', () => this.fail(generation, new TrafficManagerError('network', `watch ${this.tenant}: the stream ended`)));
    res.on('error', (e) => this.fail(generation, new TrafficManagerError('network', `watch ${this.tenant}: ${e.message}`, { cause: e })));
  }

  private readErrorBody(generation: number, res: IncomingMessage, status: number): void {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (body.length < MAX_ERROR_BODY) body += chunk;
    });
    const done = (): void => {
      if (generation !== this.generation) return;
      const retryAfter = res.headers['retry-after'];
      const error = httpError(status, res.statusMessage ?? '', body, typeof retryAfter === 'string' ? retryAfter : undefined);
      if (status === 410 || status === 412 || status === 400) {
        // Compacted (or a revision the store does not know): drop the view and take a new snapshot.
        this.dropView();
        this.fail(generation, error, 0);
        return;
      }
      // 503 and 429 (watch_stream_quota, rate_limited): not before Retry-After (nor the backoff); without one, the backoff.
      const waitMs = status === 503 || status === 429 ? parseRetryAfter(typeof retryAfter === 'string' ? retryAfter : undefined) : undefined;
      this.fail(generation, error, waitMs === undefined ? undefined : Math.min(Math.max(waitMs, 1), MAX_RETRY_AFTER_MS));
    };
    res.on('end', done);
    res.on('error', done);
  }

  private onEvent(event: SseEvent): void {
    const id = event.id === undefined ? undefined : parseRevision(event.id);
    switch (event.event) {
      case WatchEvents.put:
      case WatchEvents.delete: {
        const change = parseChange(event.data);
        if (!change || change.tenant !== this.tenant) return;
        if (id === undefined && event.event === WatchEvents.put && !this.snapshotDone) {
          this.pending ??= new RouteView();
          this.pending.set(change, routeEntry(keyOf(change), change.url ?? '', change.revision, change.endpoints, change.healthCheck));
          return;
        }
        this.apply(event.event === WatchEvents.delete || change.url === null ? null : change.url, change);
        if (id !== undefined) {
          this.lastEventId = id;
          if (this.snapshotDone && id > this.asOf) {
            this.asOf = id;
            this.hooks.progress(this);
          }
        }
        return;
      }
      case WatchEvents.bookmark: {
        const bookmark = parseBookmark(event.data);
        if (!bookmark) return;
        if (bookmark.snapshot && !this.snapshotDone) {
          this.routes = this.pending ?? new RouteView();
          this.pending = undefined;
          this.snapshotDone = true;
        }
        if (!this.snapshotDone) return;
        this.asOf = Math.max(this.asOf, bookmark.revision);
        this.bookmarkAgeMs = Math.max(0, bookmark.ageMs);
        this.bookmarkReceivedAt = performance.now();
        this.lastEventId = Math.max(this.lastEventId ?? 0, id ?? bookmark.revision);
        this.markSynced();
        this.hooks.progress(this);
        return;
      }
      case WatchEvents.health: {
        const change = parseHealthFrame(event.data);
        if (change && change.tenant === this.tenant) this.applyHealth(change);
        return;
      }
      default:
        // Anything unknown (a later version's events).
        return;
    }
  }

  private apply(url: string | null, change: ChangeData): void {
    const current = this.entry(change.service, change.environment);
    if (current && current.revision > change.revision) return;
    if (url === null) {
      this.routes.delete(change);
      if (this.health.delete(keyOf(change))) this.healthVersion++;
    } else {
      this.routes.set(change, routeEntry(keyOf(change), url, change.revision, change.endpoints, change.healthCheck));
    }
  }

  /**
   * An endpoint's health: of a newer health revision than the one held, or of the same with a
   * `since` not older (the current health sent at a start may repeat a change relayed meanwhile;
   * the later `since` holds; an expiry's unknown comes with one too). A frame of the held revision
   * that gives no `since` (an older server) is applied as the latest word: dropping it could keep
   * an endpoint's old health forever.
   */
  private applyHealth(change: HealthFrame): void {
    const key = keyOf(change);
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
    this.attempt = 0;
    this.lastError = undefined;
    this.setState('synced');
  }

  private dropView(): void {
    this.routes = new RouteView();
    this.pending = undefined;
    this.snapshotDone = false;
    this.lastEventId = undefined;
    this.asOf = -1;
  }

  /** The stream is over: down, then a reconnect after a jittered backoff (or `delayMs`). */
  private fail(generation: number, error: TrafficManagerError, delayMs?: number): void {
    if (generation !== this.generation || this.closed) return;
    this.generation++;
    this.stopStream();
    this.synced = false;
    if (!this.snapshotDone) this.pending = undefined;
    this.lastError = error;
    this.setState('down');
    this.hooks.error(this.tenant, error);
    this.hooks.progress(this);
    const backoff = this.backoffMs();
    const wait = delayMs === undefined ? backoff : delayMs === 0 ? 0 : Math.max(delayMs, backoff);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, wait);
    this.retryTimer.unref();
  }

  /** Full jitter: uniform in [0, min(max, base * 2^attempt)]. */
  private backoffMs(): number {
    const ceiling = Math.min(this.config.backoffMaxMs, this.config.backoffBaseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(Math.random() * ceiling);
  }

  private armSilence(generation: number, bookmarkIntervalMs: number): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    const limit = SILENT_INTERVALS * bookmarkIntervalMs;
    this.silenceTimer = setTimeout(() => {
      this.fail(generation, new TrafficManagerError('timeout', `watch ${this.tenant}: nothing for ${limit} ms (3 bookmark intervals)`));
    }, limit);
    this.silenceTimer.unref();
  }

  private stopStream(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = undefined;
    const req = this.req;
    this.req = undefined;
    req?.destroy();
  }

  private setState(state: WatchState): void {
    if (this.state === state) return;
    this.state = state;
    this.hooks.state(this.tenant, state);
  }
}

interface ChangeData {
  tenant: string;
  service: string;
  environment: string;
  url: string | null;
  revision: number;
  endpoints: PolicyEndpoint[];
  healthCheck: HealthCheck | null;
}

function keyOf(id: { tenant: string; service: string; environment: string }): string {
  return `${id.tenant}/${id.service}/${id.environment}`;
}

interface HealthFrame {
  tenant: string;
  service: string;
  environment: string;
  endpoint: string;
  health: Health;
  healthRevision: number;
  /** Epoch ms; undefined when the frame gives none. */
  since: number | undefined;
}

/** One tenant's routes, indexed twice (the entries are shared): by service then environment, and by route key. */
export class RouteView {
  readonly byName = new Map<string, Map<string, RouteEntry>>();
  readonly byKey = new Map<string, RouteEntry>();

  get size(): number {
    return this.byKey.size;
  }

  set(id: ChangeData, entry: RouteEntry): void {
    let envs = this.byName.get(id.service);
    if (!envs) {
      envs = new Map();
      this.byName.set(id.service, envs);
    }
    envs.set(id.environment, entry);
    this.byKey.set(entry.key, entry);
  }

  delete(id: ChangeData): void {
    const envs = this.byName.get(id.service);
    envs?.delete(id.environment);
    if (envs?.size === 0) this.byName.delete(id.service);
    this.byKey.delete(keyOf(id));
  }
}

/** The route data of a put or delete's CloudEvent; undefined when it is not one. */
export function parseChange(data: string): ChangeData | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  const d = (value as Partial<RouteEvent> | null)?.data;
  if (typeof d !== 'object' || d === null) return undefined;
  if (typeof d.tenant !== 'string' || typeof d.service !== 'string' || typeof d.environment !== 'string') return undefined;
  if (!Number.isSafeInteger(d.revision) || (d.url !== null && typeof d.url !== 'string')) return undefined;
  const base = { tenant: d.tenant, service: d.service, environment: d.environment, url: d.url, revision: d.revision };
  if (d.url === null) return { ...base, endpoints: [], healthCheck: null };
  // The policy (an event of the single-URL shape, from an older server, is its URL alone).
  const policy = policyOfData({ url: d.url, revision: d.revision, endpoints: d.endpoints, healthCheck: d.healthCheck });
  if (!policy) return undefined;
  return { ...base, endpoints: policy.endpoints, healthCheck: policy.healthCheck };
}

/** The data of an `event: health` frame; undefined when it is not one. */
export function parseHealthFrame(data: string): HealthFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  const h = value as Partial<Record<keyof HealthFrame, unknown>> | null;
  if (typeof h !== 'object' || h === null) return undefined;
  if (typeof h.tenant !== 'string' || typeof h.service !== 'string' || typeof h.environment !== 'string' || typeof h.endpoint !== 'string') return undefined;
  if (!HEALTH_VALUES.includes(h.health as Health) || !Number.isSafeInteger(h.healthRevision)) return undefined;
  const since = typeof h.since === 'string' ? Date.parse(h.since) : NaN;
  return {
    tenant: h.tenant,
    service: h.service,
    environment: h.environment,
    endpoint: h.endpoint,
    health: h.health as Health,
    healthRevision: h.healthRevision as number,
    since: Number.isFinite(since) ? since : undefined,
  };
}

export function parseBookmark(data: string): WatchBookmark | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  const b = value as Partial<WatchBookmark> | null;
  if (typeof b !== 'object' || b === null || !Number.isSafeInteger(b.revision) || typeof b.ageMs !== 'number' || !Number.isFinite(b.ageMs)) {
    return undefined;
  }
  return { revision: b.revision as number, ageMs: b.ageMs, knownCurrentAt: String(b.knownCurrentAt ?? ''), snapshot: b.snapshot === true };
}
