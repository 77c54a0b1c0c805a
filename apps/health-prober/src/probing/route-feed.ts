import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  parseRevision,
  parseSseBlock,
  policyOfData,
  routeKey,
  WatchEvents,
  WatchHeaders,
  type HealthCheck,
  type PolicyEndpoint,
  type RouteEvent,
  type RouteId,
} from '@tm/contracts';

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

const DEFAULT_BOOKMARK_INTERVAL_MS = 5_000;
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 5_000;

/** The probed route of a put's CloudEvent data, or undefined (not probed, or malformed). */
function probedRoute(data: RouteEvent['data']): ProbedRoute | undefined {
  if (data.url === null) return undefined;
  const policy = policyOfData({ ...data, url: data.url });
  if (!policy || !policy.healthCheck) return undefined;
  return { id: { tenant: data.tenant, service: data.service, environment: data.environment }, revision: data.revision, ...policy, healthCheck: policy.healthCheck };
}

/**
 * The routes to probe, from the resolver's watch of every tenant (`GET /v1/watch` with a key that
 * spans tenants): a snapshot, then every change, resumed from the last revision after a
 * disconnect (a new snapshot when that revision is compacted). Kafka alone would have no snapshot.
 */
export class RouteFeed {
  private routes = new Map<string, ProbedRoute>();
  private pending: Map<string, ProbedRoute> | undefined;
  private snapshotDone = false;
  private lastId: number | undefined;
  private req: ClientRequest | undefined;
  private retry: NodeJS.Timeout | undefined;
  private silence: NodeJS.Timeout | undefined;
  private attempt = 0;
  private generation = 0;
  private stopped = false;
  /** True while the stream is up and the snapshot is done. */
  synced = false;

  constructor(
    private readonly resolverUrl: string,
    private readonly apiKey: string,
    private readonly listener: RouteFeedListener,
  ) {}

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.retry);
    clearTimeout(this.silence);
    this.req?.destroy();
  }

  private connect(): void {
    if (this.stopped) return;
    const generation = ++this.generation;
    const url = new URL('/v1/watch', this.resolverUrl);
    const headers: Record<string, string> = { accept: 'text/event-stream', authorization: `Bearer ${this.apiKey}` };
    if (this.snapshotDone && this.lastId !== undefined) headers[WatchHeaders.lastEventId] = String(this.lastId);
    else {
      this.snapshotDone = false;
      this.pending = undefined;
    }
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'GET', headers, agent: false });
    this.req = req;
    req.on('response', (res) => this.onResponse(generation, res));
    req.on('error', (e) => this.fail(generation, e.message));
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
      res.resume();
      if (status === 410 || status === 412) {
        // Compacted (or unknown to the store): start again from a snapshot.
        this.snapshotDone = false;
        this.lastId = undefined;
      }
      const fatal = status === 401 || status === 403;
      this.fail(generation, `the watch answered ${status}${fatal ? ': PROBER_API_KEY must be a stored key with routes:read on every tenant' : ''}`);
      return;
    }
    const interval = Number(res.headers[WatchHeaders.bookmarkInterval]);
    this.armSilence(generation, Number.isFinite(interval) && interval > 0 ? interval : DEFAULT_BOOKMARK_INTERVAL_MS);
    if (this.snapshotDone) this.up();
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (generation !== this.generation) return;
      this.silence?.refresh();
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        this.onFrame(parseSseBlock(block));
      }
    });
    res.on('end', () => this.fail(generation, 'the watch ended'));
    res.on('error', (e) => this.fail(generation, e.message));
  }

  private onFrame(frame: { event: string; id: string | undefined; data: string }): void {
    const id = frame.id === undefined ? undefined : parseRevision(frame.id);
    if (frame.event === WatchEvents.bookmark) {
      let snapshot = false;
      try {
        snapshot = (JSON.parse(frame.data) as { snapshot?: unknown }).snapshot === true;
      } catch {
        return;
      }
      if (snapshot && !this.snapshotDone) {
        this.routes = this.pending ?? new Map();
        this.pending = undefined;
        this.snapshotDone = true;
        this.listener.replaced(this.routes);
      }
      if (id !== undefined) this.lastId = Math.max(this.lastId ?? 0, id);
      if (this.snapshotDone) this.up();
      return;
    }
    if (frame.event !== WatchEvents.put && frame.event !== WatchEvents.delete) return;
    let event: RouteEvent;
    try {
      event = JSON.parse(frame.data) as RouteEvent;
    } catch {
      return;
    }
    const data = event.data;
    if (typeof data !== 'object' || data === null || typeof data.tenant !== 'string') return;
    const key = routeKey(data);
    const route = frame.event === WatchEvents.put ? probedRoute(data) : undefined;
    if (id === undefined && !this.snapshotDone) {
      this.pending ??= new Map();
      if (route) this.pending.set(key, route);
      return;
    }
    if (id !== undefined) this.lastId = id;
    const current = this.routes.get(key);
    if (current && current.revision >= data.revision) return;
    if (route) this.routes.set(key, route);
    else if (!current) return;
    else this.routes.delete(key);
    this.listener.changed(key, route);
  }

  private up(): void {
    if (this.synced) return;
    this.synced = true;
    this.attempt = 0;
    this.listener.connection(true);
  }

  private fail(generation: number, reason: string): void {
    if (generation !== this.generation || this.stopped) return;
    this.generation++;
    clearTimeout(this.silence);
    this.req?.destroy();
    this.req = undefined;
    if (this.synced || this.attempt === 0) this.listener.connection(false, reason);
    this.synced = false;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 20);
    this.retry = setTimeout(() => this.connect(), Math.round(ceiling / 2 + (Math.random() * ceiling) / 2));
  }

  private armSilence(generation: number, bookmarkIntervalMs: number): void {
    clearTimeout(this.silence);
    this.silence = setTimeout(() => this.fail(generation, `nothing on the watch for ${3 * bookmarkIntervalMs} ms`), 3 * bookmarkIntervalMs);
  }
}
