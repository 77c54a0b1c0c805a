import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Headers as H, isValidName, pickRanked, rankEndpoints, type EndpointView, type RouteId } from '@tm/contracts';
import {
  applyChanges,
  changeSetAt,
  whoamiOf,
  type Whoami,
  revertChangeSet,
  revisionStatus,
  rollbackRoute,
  routeHistory,
  type ApplyOptions,
  type Change,
  type ChangeSet,
  type ChangeSetResult,
  type HistoryOptions,
  type HistoryPage,
  type RollbackOptions,
} from './changes';
import { deleteRoute, getHealth, getRoute, listRoutes, putRoute, type Route, type RouteBody, type RouteHealth, type RoutePage, type WriteOptions, type WrittenRoute } from './commands';
import { Emitter, type ClientEventName, type ClientEvents } from './emitter';
import { httpError, TrafficManagerError } from './errors';
import { follow, type Follow, type FollowEvent, type FollowOptions } from './follow';
import { Deadline, exchange, headersOf, intHeader, type CallOptions } from './http';
import { resolveOptions, type ResolvedOptions, type TrafficManagerClientOptions } from './options';
import { parseRoute, parseRouteQuietly, routePath, type RouteRef } from './route';
import { Session, type ResolvedEndpoint, type ResolveOptions, type Resolution, type SessionHost } from './session';
import { getTenant, patchTenant, type Tenant, type TenantUpdate } from './tenants';
import { decodeToken } from './token';
import { waitingTimeoutMs, type Propagation, type WaitOptions } from './wait';
import { TenantWatch, type RouteEntry, type WatchState } from './watch';

export interface WatchStats {
  tenant: string;
  state: WatchState;
  /** The view's as-of revision (its last bookmark's); -1 before the first. */
  revision: number;
  /** The view's staleness now; null before the first bookmark. */
  stalenessMs: number | null;
  routes: number;
}

export interface ClientStats {
  memoryHits: number;
  resolverCalls: number;
  staleAnswers: number;
  /** Lookups that waited for a watch. */
  watchWaits: number;
  watches: WatchStats[];
}

/** `client.list()`'s options. */
export interface ListOptions extends CallOptions {
  /** Only this tenant's routes. */
  tenant?: string | undefined;
  /** The `nextCursor` of the page before. */
  cursor?: string | null | undefined;
}

/** `client.status()`'s options. */
export interface StatusOptions extends CallOptions {
  /** Ask again until the revision is in sync, or `waitTimeoutMs` passes (then the last answer, `pending`). */
  wait?: boolean | undefined;
  /** How long `wait` asks for (default 5,000 ms, as a write's `wait`). */
  waitTimeoutMs?: number | undefined;
}

/** How often `status({wait})` asks again: from the first to the last interval, doubling. */
const STATUS_POLL_FIRST_MS = 25;
const STATUS_POLL_MAX_MS = 500;
const STATUS_WAIT_MS = 5_000;

/** A connect-style middleware: Express, NestJS (`app.use`), `@fastify/middie`, or a plain `http` server. */
export type TrafficManagerMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** A Fastify plugin (`app.register(tm.fastifyPlugin())`), typed loosely so this package needs no Fastify types. */
export type TrafficManagerFastifyPlugin = (instance: unknown, options: unknown, done: (error?: Error) => void) => void;

interface FastifyHooks {
  addHook(
    name: 'onRequest' | 'preHandler',
    hook: (request: { headers: IncomingHttpHeaders; raw: IncomingMessage }, reply: unknown, done: (error?: Error) => void) => void,
  ): unknown;
}

/** A positive resolver answer, kept for `staleIfErrorMs`. */
interface Known {
  answer: Resolution;
  /** performance.now() at which the answer's age was 0. */
  bornAt: number;
}

const MAX_KNOWN = 10_000;
/** Backoff of a watch's reconnects. */
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;

function badMinimum(value: unknown): TrafficManagerError {
  return new TrafficManagerError('invalid_argument', `minRevision must be a whole number >= 0 (got ${String(value)})`);
}

/** The revision in an incoming `X-Min-Revision` (the highest, if sent twice); 0 when absent or unreadable. */
function minRevisionOfHeaders(headers: IncomingHttpHeaders): number {
  const raw = headers[H.minRevision];
  let best = 0;
  for (const value of Array.isArray(raw) ? raw : raw === undefined ? [] : raw.split(',')) {
    const text = value.trim();
    if (/^\d{1,15}$/.test(text)) best = Math.max(best, Number(text));
  }
  return best;
}

/**
 * The Traffic Manager client: resolves routes from an in-process view fed by one watch per tenant
 * (answers in microseconds, never staler than `maxStalenessMs`), falls back to the resolver, writes
 * through the command API, and carries causal sessions across async calls and services.
 */
export class TrafficManagerClient implements SessionHost {
  private readonly options: ResolvedOptions;
  private readonly watches = new Map<string, TenantWatch>();
  private readonly waiters = new Map<TenantWatch, Set<() => void>>();
  private readonly known = new Map<string, Known>();
  private readonly storage = new AsyncLocalStorage<Session>();
  private readonly events = new Emitter();
  private readonly fastifySessions = new WeakMap<IncomingMessage, Session>();
  private readonly follows = new Set<Follow>();
  private useTick = 0;
  /** The watch of the last lookup by route key (closed watches are dropped from it). */
  private lastKeyed: TenantWatch | undefined;
  private closed = false;
  private memoryHits = 0;
  private resolverCalls = 0;
  private staleAnswers = 0;
  private watchWaits = 0;

  constructor(options: TrafficManagerClientOptions) {
    this.options = resolveOptions(options);
  }

  // ---- reads ----

  /**
   * The answer from memory, synchronously, when the tenant's view may give it (synced, fresh, at the
   * minimum); undefined otherwise (then `resolve` asks the resolver). Opens no watch. The current
   * session's minimum applies and the session observes the answer.
   */
  resolveCached(route: RouteRef, minRevision?: number, affinity?: string): Resolution | null | undefined {
    const session = this.storage.getStore();
    const min = session !== undefined && session.revision > (minRevision ?? 0) ? session.revision : (minRevision ?? 0);
    // Two functions, so that each stays monomorphic for the JIT.
    return typeof route === 'string' ? this.cachedByKey(route, min, session, affinity) : this.cachedById(route, min, session, affinity);
  }

  private cachedById(route: RouteId, min: number, session: Session | undefined, affinity: string | undefined): Resolution | null | undefined {
    const watch = this.watches.get(route.tenant);
    if (watch === undefined) return undefined;
    return this.fromView(watch, watch.routes.byName.get(route.service)?.get(route.environment), route.service, route.environment, min, session, affinity);
  }

  private cachedByKey(route: string, min: number, session: Session | undefined, affinity: string | undefined): Resolution | null | undefined {
    // The last tenant looked up by key is tried first: no string is cut for it.
    let watch = this.lastKeyed;
    if (watch === undefined || !route.startsWith(watch.prefix)) {
      const slash = route.indexOf('/');
      watch = slash > 0 ? this.watches.get(route.slice(0, slash)) : undefined;
      if (watch === undefined) return undefined;
      this.lastKeyed = watch;
    }
    const entry = watch.routes.byKey.get(route);
    if (entry !== undefined) return this.fromView(watch, entry, '', '', min, session, affinity);
    // Absent from the view: null only for a well-formed route.
    const id = parseRouteQuietly(route);
    return id === undefined ? undefined : this.fromView(watch, undefined, id.service, id.environment, min, session, affinity);
  }

  /**
   * Which URL to call for the route: from memory when the view allows, else from the resolver
   * (`X-Min-Revision`: the session's revision and `minRevision`). null when the route does not exist.
   */
  resolve(route: RouteRef, options: ResolveOptions = {}): Promise<Resolution | null> {
    return this.resolveIn(this.storage.getStore(), route, options);
  }

  /** @internal Session.resolve. */
  async resolveIn(session: Session | undefined, route: RouteRef, options: ResolveOptions = {}): Promise<Resolution | null> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    const id = parseRoute(route);
    const asked = options.minRevision;
    if (asked !== undefined && (!Number.isSafeInteger(asked) || asked < 0)) throw badMinimum(asked);
    const min = Math.max(asked ?? 0, session?.revision ?? 0);
    if (options.signal?.aborted) throw new TrafficManagerError('aborted', `resolve ${routePath(id)}: aborted by the caller`, { cause: options.signal.reason });
    const strong = options.consistency === 'strong';
    if (options.consistency !== undefined && !strong && options.consistency !== 'default') {
      throw new TrafficManagerError('invalid_argument', "consistency must be 'default' or 'strong'");
    }
    const affinity = options.affinity;
    if (affinity !== undefined && (typeof affinity !== 'string' || affinity.length > MAX_AFFINITY)) {
      throw new TrafficManagerError('invalid_argument', `affinity must be a string of at most ${MAX_AFFINITY} characters`);
    }
    const watch = this.options.watch ? this.ensureWatch(id.tenant) : undefined;
    if (watch && !strong) {
      const hit = this.fromView(watch, watch.entry(id.service, id.environment), id.service, id.environment, min, session, affinity);
      if (hit !== undefined) return hit;
    }
    const deadline = new Deadline(options.timeoutMs ?? this.options.timeoutMs, options.signal);
    if (watch && !strong && watch.promising && this.options.watchWaitMs > 0) {
      this.watchWaits++;
      // At most half the call's time, so that the resolver still has the rest.
      await this.waitForView(watch, min, Math.min(this.options.watchWaitMs, deadline.leftMs() / 2), deadline);
      deadline.check(`resolve ${routePath(id)}`);
      const hit = this.fromView(watch, watch.entry(id.service, id.environment), id.service, id.environment, min, session, affinity);
      if (hit !== undefined) return hit;
    }
    try {
      const { answer, asOf } = await this.askResolver(id, min, strong, affinity, deadline);
      session?.observe(asOf);
      return answer;
    } catch (e) {
      const error = e instanceof TrafficManagerError ? e : new TrafficManagerError('network', String(e), { cause: e });
      if (!unreachable(error)) throw error;
      const stale = this.staleAnswer(id, min, watch, affinity);
      if (stale === undefined) throw error;
      this.staleAnswers++;
      session?.observe(stale.asOf);
      this.events.emit('stale', { route: routePath(id), ageMs: stale.ageMs, error });
      return stale;
    }
  }

  /**
   * The view's answer (`entry` looked up by the caller; service and environment are only read when
   * it is absent) when it may be given. The hot path: a few comparisons and one clock read; a route
   * of several endpoints, or a probed one, is selected (selectEndpoint, the resolver's own) with its
   * endpoints' health from the watch.
   */
  private fromView(
    watch: TenantWatch,
    entry: RouteEntry | undefined,
    service: string,
    environment: string,
    min: number,
    session: Session | undefined,
    affinity: string | undefined,
  ): Resolution | null | undefined {
    if (!watch.synced || watch.asOf < min) return undefined;
    const ageMs = watch.bookmarkAgeMs + Math.max(0, performance.now() - watch.bookmarkReceivedAt);
    if (!(ageMs < this.options.maxStalenessMs)) return undefined;
    if (entry === undefined && !(isValidName(service) && isValidName(environment))) return undefined;
    watch.lastUsed = ++this.useTick;
    this.memoryHits++;
    const asOf = watch.asOf;
    if (session !== undefined && asOf > session.revision) session.observe(asOf);
    if (entry === undefined) return null;
    const fixed = entry.fixed;
    if (fixed !== undefined) return { url: fixed.url, failOpen: false, endpoints: fixed.endpoints, revision: entry.revision, asOf, source: 'memory', ageMs };
    const pick = selected(watch, entry, affinity);
    return { url: pick.url, failOpen: pick.failOpen, endpoints: pick.endpoints, revision: entry.revision, asOf, source: 'memory', ageMs };
  }

  private usable(watch: TenantWatch, min: number): boolean {
    return watch.synced && watch.asOf >= min && watch.stalenessMs() < this.options.maxStalenessMs;
  }

  /** Waits until the view may answer (or stops being worth waiting for), at most `ms`. */
  private waitForView(watch: TenantWatch, min: number, ms: number, deadline: Deadline): Promise<void> {
    if (ms <= 0 || this.usable(watch, min)) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiters.get(watch);
      if (!set) {
        set = new Set();
        this.waiters.set(watch, set);
      }
      const waiters = set;
      const finish = (): void => {
        clearTimeout(timer);
        deadline.signal.removeEventListener('abort', finish);
        waiters.delete(check);
        if (waiters.size === 0 && this.waiters.get(watch) === waiters) this.waiters.delete(watch);
        resolve();
      };
      const check = (): void => {
        if (this.usable(watch, min) || !watch.promising) finish();
      };
      // Not unref()'d: the caller awaits this call, so it keeps the process alive for at most `ms`
      // (the watch's socket does not: without this a script could exit mid-lookup).
      const timer = setTimeout(finish, ms);
      deadline.signal.addEventListener('abort', finish, { once: true });
      waiters.add(check);
    });
  }

  private async askResolver(id: RouteId, min: number, strong: boolean, affinity: string | undefined, deadline: Deadline): Promise<{ answer: Resolution | null; asOf: number }> {
    const path = routePath(id);
    const what = `resolve ${path}`;
    const query = new URLSearchParams();
    if (strong) query.set('consistency', 'strong');
    if (affinity !== undefined) query.set('affinity', affinity);
    const search = query.size > 0 ? `?${query.toString()}` : '';
    const url = `${this.options.resolverUrl}/v1/resolve/${path}${search}`;
    const extra: Record<string, string> = {};
    if (min > 0) extra[H.minRevision] = String(min);
    const init: RequestInit = { headers: headersOf(this.options.apiKey, extra) };
    for (let attempt = 0; ; attempt++) {
      this.resolverCalls++;
      const res = await exchange(url, init, deadline, what);
      if (res.status === 200) {
        let body: { url?: unknown; revision?: unknown; failOpen?: unknown; endpoints?: unknown };
        try {
          body = JSON.parse(res.body) as typeof body;
        } catch {
          throw new TrafficManagerError('http_error', `${what}: the answer is not JSON`, { status: 200 });
        }
        const revision = intHeader(res.headers, H.routeRevision) ?? (typeof body.revision === 'number' ? body.revision : undefined);
        if (typeof body.url !== 'string' || revision === undefined) {
          throw new TrafficManagerError('http_error', `${what}: the answer has no url or revision`, { status: 200 });
        }
        const asOf = intHeader(res.headers, H.consistencyRevision) ?? Math.max(revision, min);
        const ageMs = (intHeader(res.headers, 'age') ?? 0) * 1000;
        // X-Cache: STALE is the resolver's own answer while PostgreSQL is down (past its TTL): marked stale.
        const source = res.headers.get(H.cache) === 'STALE' ? 'stale' : 'resolver';
        const endpoints = endpointsOfAnswer(body.endpoints, body.url);
        if (endpoints === undefined) throw new TrafficManagerError('http_error', `${what}: the answer's endpoints are not readable`, { status: 200 });
        const answer: Resolution = { url: body.url, failOpen: body.failOpen === true, endpoints, revision, asOf, source, ageMs };
        this.remember(path, answer);
        return { answer, asOf };
      }
      if (res.status === 404) {
        // The resolver's "no such route" carries its as-of revision; a 404 without it is some other
        // server's (a wrong resolverUrl), not an answer.
        const asOf = intHeader(res.headers, H.consistencyRevision);
        const error = httpError(res.status, res.statusText, res.body);
        // Not the resolver's answer, or a route that exists with nothing to call (no endpoint enabled or draining).
        if (asOf === undefined || error.code === 'no_enabled_endpoint') throw error;
        this.known.delete(path);
        return { answer: null, asOf };
      }
      const error = httpError(res.status, res.statusText, res.body, res.headers.get('retry-after'));
      // Overloaded, down or rate limited: once more after Retry-After, when that fits in the deadline.
      if ((res.status === 503 || res.status === 429) && attempt === 0 && error.retryAfterMs !== undefined && error.retryAfterMs < deadline.leftMs()) {
        if (await deadline.sleep(error.retryAfterMs)) continue;
        throw deadline.error(what);
      }
      throw error;
    }
  }

  private remember(path: string, answer: Resolution): void {
    if (this.options.staleIfErrorMs === 0) return;
    this.known.delete(path);
    this.known.set(path, { answer, bornAt: performance.now() - answer.ageMs });
    if (this.known.size > MAX_KNOWN) {
      const oldest = this.known.keys().next();
      if (!oldest.done) this.known.delete(oldest.value);
    }
  }

  /** The freshest last known answer within `staleIfErrorMs` and at the minimum; undefined when there is none. */
  private staleAnswer(id: RouteId, min: number, watch: TenantWatch | undefined, affinity: string | undefined): Resolution | undefined {
    const limit = this.options.staleIfErrorMs;
    if (limit === 0) return undefined;
    const now = performance.now();
    let best: { asOf: number; answer: Resolution | null } | undefined;
    if (watch && watch.asOf >= min && watch.asOf >= 0) {
      const ageMs = watch.stalenessMs(now);
      if (ageMs <= limit) {
        const entry = watch.entry(id.service, id.environment);
        const asOf = watch.asOf;
        const pick = entry === undefined ? undefined : entry.fixed !== undefined ? { ...entry.fixed, failOpen: false } : selected(watch, entry, affinity);
        best = { asOf, answer: entry && pick ? { ...pick, revision: entry.revision, asOf, source: 'stale', ageMs } : null };
      }
    }
    const known = this.known.get(routePath(id));
    if (known && known.answer.asOf >= min && (best === undefined || known.answer.asOf > best.asOf)) {
      const ageMs = Math.max(0, now - known.bornAt);
      if (ageMs <= limit) best = { asOf: known.answer.asOf, answer: { ...known.answer, source: 'stale', ageMs } };
    }
    // A newer view without the route: it was deleted; no stale URL for it.
    return best?.answer ?? undefined;
  }

  // ---- watches ----

  private ensureWatch(tenant: string): TenantWatch {
    let watch = this.watches.get(tenant);
    if (watch === undefined) {
      watch = new TenantWatch(
        tenant,
        { resolverUrl: this.options.resolverUrl, apiKey: this.options.apiKey, backoffBaseMs: BACKOFF_BASE_MS, backoffMaxMs: BACKOFF_MAX_MS },
        {
          state: (t, state) => this.events.emit('watch-state', { tenant: t, state }),
          error: (_t, error) => this.events.emit('error', error),
          progress: (w) => {
            const set = this.waiters.get(w);
            if (set) for (const check of [...set]) check();
          },
        },
      );
      this.watches.set(tenant, watch);
      if (this.watches.size > this.options.maxTenants) this.evictLeastRecentlyUsed(watch);
    }
    watch.lastUsed = ++this.useTick;
    return watch;
  }

  private evictLeastRecentlyUsed(keep: TenantWatch): void {
    let oldest: TenantWatch | undefined;
    for (const watch of this.watches.values()) {
      if (watch !== keep && (oldest === undefined || watch.lastUsed < oldest.lastUsed)) oldest = watch;
    }
    if (oldest === undefined) return;
    this.watches.delete(oldest.tenant);
    if (this.lastKeyed === oldest) this.lastKeyed = undefined;
    oldest.close();
  }

  // ---- sessions and causal propagation ----

  /** A new session, or the one a token carries (`invalid_token` when it is not one of ours). */
  session(token?: string): Session {
    return new Session(this, token === undefined ? 0 : decodeToken(token));
  }

  /** Runs `fn` with `session` as the current one: `resolve`, `put`, `delete` and `fetch` inside it use it. */
  run<T>(session: Session, fn: () => T): T {
    if (!(session instanceof Session)) throw new TrafficManagerError('invalid_argument', 'run() needs a Session');
    return this.storage.run(session, fn);
  }

  /** The session of the current async context (set by the middleware or `run`), if any. */
  currentSession(): Session | undefined {
    return this.storage.getStore();
  }

  /**
   * A middleware that starts a session per request from its `X-Min-Revision` and runs the rest of
   * the request inside it. Register it after body parsers (their callbacks come from the socket,
   * outside the request's async context); for Fastify, prefer `fastifyPlugin()`.
   */
  middleware(): TrafficManagerMiddleware {
    return (req, _res, next) => {
      const session = new Session(this, minRevisionOfHeaders(req.headers));
      this.storage.run(session, () => next());
    };
  }

  /**
   * A Fastify plugin (no fastify-plugin needed: it applies to the whole app): an `onRequest` hook
   * starts the request's session, a `preHandler` hook enters it again after the body is parsed.
   */
  fastifyPlugin(): TrafficManagerFastifyPlugin {
    const plugin = (instance: unknown, _options: unknown, done: (error?: Error) => void): void => {
      const app = instance as FastifyHooks;
      app.addHook('onRequest', (request, _reply, next) => {
        const session = new Session(this, minRevisionOfHeaders(request.headers));
        this.fastifySessions.set(request.raw, session);
        this.storage.run(session, () => next());
      });
      app.addHook('preHandler', (request, _reply, next) => {
        const session = this.fastifySessions.get(request.raw);
        if (session === undefined) return next();
        this.storage.run(session, () => next());
      });
      done();
    };
    Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'traffic-manager' });
    return plugin;
  }

  /** The global fetch, with the current session's revision sent as `X-Min-Revision` (the higher one if the caller set it too). */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const session = this.storage.getStore();
    if (session === undefined || session.revision === 0) return fetch(input, init);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const given = headers.get(H.minRevision);
    const givenRevision = given !== null && /^\s*\d{1,15}\s*$/.test(given) ? Number(given) : 0;
    headers.set(H.minRevision, String(Math.max(givenRevision, session.revision)));
    return fetch(input, { ...init, headers });
  }

  // ---- writes ----

  /** PUT a route's URL (the current session, if any, observes the write); `wait`: answer once it is in sync (see `propagation`). */
  put(route: RouteRef, body: RouteBody, options?: WriteOptions & WaitOptions & CallOptions): Promise<WrittenRoute> {
    return this.putIn(this.storage.getStore(), route, body, options);
  }

  /** DELETE a route: true, or false when there was none (the current session, if any, observes the deletion). */
  delete(route: RouteRef, options?: WriteOptions & WaitOptions & CallOptions): Promise<boolean> {
    return this.deleteIn(this.storage.getStore(), route, options);
  }

  /**
   * Applies `changes` as one change set (`POST /v1/changes`): every change at one new revision, or
   * none. A failed compare (`ifRevision`, `ifAbsent`) throws `conflict` with `conflicts`; a bad
   * change `bad_request` with `errors` (fields such as `changes[3].body.url`). The current session,
   * if any, observes the set's revision.
   */
  apply(changes: readonly Change[], options?: ApplyOptions & CallOptions): Promise<ChangeSetResult> {
    return this.applyIn(this.storage.getStore(), changes, options);
  }

  /** @internal Session.apply. */
  async applyIn(session: Session | undefined, changes: readonly Change[], options: ApplyOptions & CallOptions = {}): Promise<ChangeSetResult> {
    const result = await applyChanges(this.options, changes, options, this.writeDeadline(options));
    session?.observe(result.revision);
    return result;
  }

  /**
   * Makes the route what it was as of `toRevision` (absent then: deleted) in a new change set.
   * `ifRevision`: only if the route is at that revision now (else `conflict`); a revision older
   * than the kept history throws `history_gone` (`problem.oldestRevision`). The current session observes it.
   */
  async rollback(route: RouteRef, toRevision: number, options: RollbackOptions & CallOptions = {}): Promise<ChangeSetResult> {
    const id = parseRoute(route);
    const result = await rollbackRoute(this.options, id, toRevision, options, this.writeDeadline(options));
    this.storage.getStore()?.observe(result.revision);
    return result;
  }

  /**
   * Reverts the change set at `revision`: every route it changed back to its state before it, in one
   * new change set, where each is still as the set left it; otherwise `conflict` (a 409) with
   * `conflicts`, nothing applied. The current session observes it.
   */
  async revert(revision: number, options: WaitOptions & CallOptions = {}): Promise<ChangeSetResult> {
    const result = await revertChangeSet(this.options, revision, options, this.writeDeadline(options));
    this.storage.getStore()?.observe(result.revision);
    return result;
  }

  /** A write's deadline: the call's time, and the wait's when it waits. */
  private writeDeadline(options: WaitOptions & CallOptions): Deadline {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    return new Deadline(options.timeoutMs ?? waitingTimeoutMs(this.options.timeoutMs, options), options.signal);
  }

  /** @internal Session.put. */
  async putIn(session: Session | undefined, route: RouteRef, body: RouteBody, options: WriteOptions & WaitOptions & CallOptions = {}): Promise<WrittenRoute> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    const id = parseRoute(route);
    const deadline = this.writeDeadline(options);
    const { route: written, revision, created } = await putRoute(this.options, id, body, options, deadline);
    session?.observe(revision);
    return { ...written, created };
  }

  /** @internal Session.delete. */
  async deleteIn(session: Session | undefined, route: RouteRef, options: WriteOptions & WaitOptions & CallOptions = {}): Promise<boolean> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    const id = parseRoute(route);
    const deadline = this.writeDeadline(options);
    const revision = await deleteRoute(this.options, id, options, deadline);
    if (revision === undefined) return false;
    session?.observe(revision);
    return true;
  }

  /**
   * Changes a tenant (`PATCH /v1/tenants/{tenant}`, admin): its display name (null clears it) and
   * whether DNS answers its routes (`dns`; the resolver learns it within its AUTH_CACHE_TTL_MS). The
   * tenant after the change; an update that changes nothing changes nothing. An unknown tenant
   * throws `not_found`, a key that is not admin `forbidden`.
   */
  async updateTenant(slug: string, update: TenantUpdate, options: CallOptions = {}): Promise<Tenant> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    return patchTenant(this.options, slug, update, new Deadline(options.timeoutMs ?? this.options.timeoutMs, options.signal));
  }

  // ---- reads of the configuration, health and changes ----

  /** A tenant from the command API (its display name, whether DNS answers it), or null when there is none. */
  async tenant(slug: string, options: CallOptions = {}): Promise<Tenant | null> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    return (await getTenant(this.options, slug, new Deadline(options.timeoutMs ?? this.options.timeoutMs, options.signal))) ?? null;
  }

  /** `GET` a route from the command API (the database, not the cache): the route, or null when there is none. */
  async get(route: RouteRef, options: CallOptions = {}): Promise<Route | null> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    const id = parseRoute(route);
    return (await getRoute(this.options, id, new Deadline(options.timeoutMs ?? this.options.timeoutMs, options.signal))) ?? null;
  }

  /** One page (up to 500 routes) of the command API's routes, of one tenant or every one the key may read; pass `nextCursor` for the next. */
  list(options: ListOptions = {}): Promise<RoutePage> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    if (options.tenant !== undefined && !isValidName(options.tenant)) throw new TrafficManagerError('invalid_argument', `not a tenant name: ${String(options.tenant).slice(0, 100)}`);
    return listRoutes(this.options, options.tenant, options.cursor ?? undefined, new Deadline(options.timeoutMs ?? this.options.timeoutMs, options.signal));
  }

  /** Each endpoint's health as the resolver holds it (state, health, since when, the last probe error); null when the route does not exist. */
  async health(route: RouteRef, options: CallOptions = {}): Promise<RouteHealth | null> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    const id = parseRoute(route);
    const deadline = new Deadline(options.timeoutMs ?? this.options.timeoutMs, options.signal);
    return (await getHealth(this.options.resolverUrl, this.options.apiKey, id, deadline)) ?? null;
  }

  /** A page of the route's history, newest first: the route after each change, who, when, why (`nextCursor` for the next). */
  history(route: RouteRef, options: HistoryOptions & CallOptions = {}): Promise<HistoryPage> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    const id = parseRoute(route);
    return routeHistory(this.options, id, options, new Deadline(options.timeoutMs ?? this.options.timeoutMs, options.signal));
  }

  /** What this client's key may do: its id, name, tenant and scopes (`{admin: true}` for the admin token). */
  whoami(options: CallOptions = {}): Promise<Whoami> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    return whoamiOf(this.options, new Deadline(options.timeoutMs ?? this.options.timeoutMs, options.signal));
  }

  /** The change set at `revision` (its routes of the tenants the key may read), or null when there is none the key may see. */
  async changeSet(revision: number, options: CallOptions = {}): Promise<ChangeSet | null> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    return (await changeSetAt(this.options, revision, new Deadline(options.timeoutMs ?? this.options.timeoutMs, options.signal))) ?? null;
  }

  /**
   * Where `revision` has reached (`GET /v1/revisions/{R}`): `in-sync` once it is on Kafka, in the
   * cache and in every live resolver's watch feed. `wait`: asks again until it is in sync, or
   * `waitTimeoutMs` passes, and then gives the last answer (`pending`); it throws only on a failure.
   */
  async status(revision: number, options: StatusOptions = {}): Promise<Propagation> {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    const callMs = options.timeoutMs ?? this.options.timeoutMs;
    const ask = (signal: AbortSignal | undefined): Promise<Propagation> => revisionStatus(this.options, revision, new Deadline(callMs, signal));
    if (!options.wait) return ask(options.signal);
    const waitMs = options.waitTimeoutMs ?? STATUS_WAIT_MS;
    if (!Number.isFinite(waitMs) || waitMs < 0) throw new TrafficManagerError('invalid_argument', 'waitTimeoutMs must be a number of ms >= 0');
    // The wait's own deadline (the caller's signal ends it too); each ask has the call's time.
    const waiting = new Deadline(Math.max(waitMs, 1), options.signal);
    let last = await ask(options.signal);
    for (let pause = STATUS_POLL_FIRST_MS; last.status !== 'in-sync'; pause = Math.min(pause * 2, STATUS_POLL_MAX_MS)) {
      if (waiting.leftMs() <= 0 || !(await waiting.sleep(Math.min(pause, waiting.leftMs())))) {
        if (options.signal?.aborted) throw waiting.error(`status of revision ${revision}`);
        return last;
      }
      last = await ask(options.signal);
    }
    return last;
  }

  /**
   * Follows the resolver's watch event by event (`put`, `delete`, `bookmark`, and `down`/`reset`
   * while it reconnects), resuming after the last revision it saw, until `close()` (or the
   * client's). Independent of the watches that feed lookups; it never keeps the process alive.
   */
  follow(options: FollowOptions, listener: (event: FollowEvent) => void): Follow {
    if (this.closed) throw new TrafficManagerError('closed', 'the client is closed');
    const target = { resolverUrl: this.options.resolverUrl, apiKey: this.options.apiKey, backoffBaseMs: BACKOFF_BASE_MS, backoffMaxMs: BACKOFF_MAX_MS };
    const running = follow(target, options, listener);
    const handle: Follow = {
      close: () => {
        this.follows.delete(handle);
        running.close();
      },
    };
    this.follows.add(handle);
    return handle;
  }

  // ---- observability and lifecycle ----

  /** Listens to `watch-state`, `stale` or `error`; returns a function that stops listening. */
  on<E extends ClientEventName>(event: E, listener: (payload: ClientEvents[E]) => void): () => void {
    return this.events.on(event, listener);
  }

  off<E extends ClientEventName>(event: E, listener: (payload: ClientEvents[E]) => void): void {
    this.events.off(event, listener);
  }

  stats(): ClientStats {
    const now = performance.now();
    return {
      memoryHits: this.memoryHits,
      resolverCalls: this.resolverCalls,
      staleAnswers: this.staleAnswers,
      watchWaits: this.watchWaits,
      watches: [...this.watches.values()].map((w) => {
        const staleness = w.stalenessMs(now);
        return { tenant: w.tenant, state: w.state, revision: w.asOf, stalenessMs: Number.isFinite(staleness) ? staleness : null, routes: w.routes.size };
      }),
    };
  }

  /** Closes every watch; later calls throw `closed`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const watches = [...this.watches.values()];
    this.watches.clear();
    this.lastKeyed = undefined;
    for (const watch of watches) watch.close();
    for (const running of [...this.follows]) running.close();
    this.known.clear();
    this.events.removeAll();
    await Promise.resolve();
  }
}

/** The longest `affinity` (the resolver's bound on `?affinity=`). */
const MAX_AFFINITY = 256;

/**
 * The selection of a route of the view (docs: "Traffic policies and health"): the resolver's own
 * (rankEndpoints, then pickRanked; ranked again only after a health change) over its endpoints with
 * their health from the watch (unknown when not probed, or when the probers' health of the
 * endpoint's health revision is not known). No endpoint enabled or draining throws
 * `no_enabled_endpoint`, as the resolver's 404 does.
 */
function selected(watch: TenantWatch, entry: RouteEntry, affinity: string | undefined): { url: string; failOpen: boolean; endpoints: EndpointView[] } {
  let ranking = entry.ranking;
  if (ranking === undefined || entry.rankedAt !== watch.healthVersion) {
    const probed = entry.healthCheck !== null;
    // Frozen: the answers share them until the next health change.
    const views = entry.endpoints.map((e) =>
      Object.freeze({ id: e.id, url: e.url, priority: e.priority, weight: e.weight, state: e.state, health: probed ? watch.healthOf(entry.key, e) : 'unknown' }),
    );
    ranking = rankEndpoints(views);
    entry.ranking = ranking;
    entry.rankedAt = watch.healthVersion;
  }
  const selection = pickRanked(ranking, affinity === undefined ? { random: Math.random() } : { affinity });
  if (selection.pick === undefined) {
    throw new TrafficManagerError('no_enabled_endpoint', `route ${entry.key} has no endpoint enabled or draining`, { status: 404 });
  }
  return { url: selection.pick.url, failOpen: selection.failOpen, endpoints: selection.order };
}

const STATES: readonly string[] = ['enabled', 'draining', 'disabled'];
const HEALTHS: readonly string[] = ['healthy', 'unhealthy', 'unknown'];

/** The endpoints of a resolver answer; an older resolver's answer without them is its URL alone. Undefined: malformed. */
function endpointsOfAnswer(raw: unknown, url: string): ResolvedEndpoint[] | undefined {
  if (raw === undefined) return [{ id: 'default', url, priority: 1, weight: 1, state: 'enabled', health: 'unknown' }];
  if (!Array.isArray(raw)) return undefined;
  const out: ResolvedEndpoint[] = [];
  for (const item of raw as unknown[]) {
    const e = item as Partial<Record<keyof ResolvedEndpoint, unknown>> | null;
    if (typeof e !== 'object' || e === null || typeof e.id !== 'string' || typeof e.url !== 'string') return undefined;
    if (typeof e.priority !== 'number' || typeof e.weight !== 'number' || !STATES.includes(e.state as string) || !HEALTHS.includes(e.health as string)) return undefined;
    out.push({ id: e.id, url: e.url, priority: e.priority, weight: e.weight, state: e.state as ResolvedEndpoint['state'], health: e.health as ResolvedEndpoint['health'] });
  }
  return out;
}

/** Failures that mean "the resolver cannot answer now", where a stale answer may be served. */
function unreachable(error: TrafficManagerError): boolean {
  return (
    error.code === 'network' ||
    error.code === 'timeout' ||
    error.code === 'unavailable' ||
    (error.code === 'http_error' && error.status !== undefined && error.status >= 500)
  );
}

