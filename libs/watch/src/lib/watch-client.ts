import { parseRevision, WatchEvents, WatchHeaders, watchStaleness, type WatchBookmark } from '@tm/contracts';
import { parseBookmark, parseChange, parseHealth, type HealthChange, type RouteChange } from './frames';
import { SseParser, type SseEvent } from './sse';

/**
 * The one client of the resolver's watch (CONTRACT "Watch (resolver)"): the SDK bundles it, the
 * health prober and the consistency checker import it, a browser console can use it (no Node API).
 * It connects with `fetch`, reads the stream with the SSE parser, hands over a whole snapshot at its
 * bookmark, then every change, bookmark and health frame in order; after any end it reconnects with
 * jittered backoff and resumes with `Last-Event-ID` (the last `id` it saw: only the last event of a
 * revision carries one, so a stream cut inside a revision resumes before it and gets it whole); on
 * 410, 412 or 400 it drops the resume point (`reset`) and takes a new snapshot.
 */

export type WatchState = 'connecting' | 'synced' | 'down' | 'closed';

/** A put or delete as it arrived. */
export interface WatchChange extends RouteChange {
  kind: 'put' | 'delete';
  /** The frame's `id` line as a revision; undefined when it has none (not the last event of its revision). */
  id: number | undefined;
}

/** A bookmark with its arrival time on the caller's clock (`WatchClientOptions.now`). */
export interface ReceivedBookmark extends WatchBookmark {
  /** The frame's `id` line as a revision (undefined: none). */
  id: number | undefined;
  receivedAt: number;
}

/** Why a connection ended or opened no stream. `message` says it in words. */
export type WatchFailure =
  /** An answer other than 200 (the body read up to 16 KiB, a problem+json as a rule). */
  | { kind: 'http'; status: number; statusText: string; body: string; retryAfter: string | undefined; message: string; retryInMs: number }
  /** No answer, or the stream broke. */
  | { kind: 'network'; cause: unknown; message: string; opened: boolean; retryInMs: number }
  /** The server ended the stream. */
  | { kind: 'ended'; message: string; retryInMs: number }
  /** Nothing arrived for 3 bookmark intervals. */
  | { kind: 'silent'; silentMs: number; message: string; opened: boolean; retryInMs: number };

/**
 * What the watch tells its user, in stream order. Every callback is optional and called synchronously;
 * the client may be closed from inside any of them.
 */
export interface WatchListener {
  /** A connection starts: `since` is the `Last-Event-ID` it sends (undefined: it asks for a snapshot). */
  connecting?(attempt: { url: string; since: number | undefined }): void;
  /** The stream opened (200). */
  open?(stream: { url: string; since: number | undefined; bookmarkIntervalMs: number }): void;
  /**
   * A whole snapshot, at its bookmark (`snapshot: true`): every route as of `bookmark.revision`. It
   * replaces whatever the user held; `bookmark` follows for the same frame.
   */
  snapshot?(routes: WatchChange[], bookmark: ReceivedBookmark): void;
  /**
   * A change after the snapshot (or after the resume point). The changes of one revision (a change
   * set's: only its last frame carries the `id` line) are held until that last frame arrives, then
   * handed over back to back in one synchronous run, so a user that applies them never shows part of
   * a revision; a stream cut inside one hands over none of it (the resume sends it whole).
   */
  change?(change: WatchChange): void;
  /** A bookmark after the snapshot: the stream is synced from here (`state('synced')` follows if it was not). */
  bookmark?(bookmark: ReceivedBookmark): void;
  /** An endpoint's health (`?health=true`). */
  health?(health: HealthChange): void;
  /** The resume point is gone (410 compacted, 412, 400): drop what is held; a snapshot comes next. `error` follows. */
  reset?(failure: WatchFailure): void;
  /** A connection ended or was refused; the client retries after `failure.retryInMs`. `state('down')` follows. */
  error?(failure: WatchFailure): void;
  /** The state changed: `synced` once a snapshot or a resume is through, `down` after a failure, `closed`. */
  state?(state: WatchState): void;
}

/** The request the watch sends: what `fetch` takes. */
export interface WatchRequestInit {
  method: 'GET';
  headers: Record<string, string>;
  signal: AbortSignal;
}

/** What the watch reads of an answer: a `Response` is one. */
export interface WatchResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: { get(name: string): string | null };
  readonly body: { getReader(): WatchBodyReader } | null;
}

export interface WatchBodyReader {
  read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>;
  cancel(reason?: unknown): Promise<void>;
}

/** `fetch`, or anything that answers the same way (the SDK passes one whose socket never holds the process). */
export type WatchFetch = (url: string, init: WatchRequestInit) => Promise<WatchResponse>;

export interface WatchClientOptions {
  /** The watch's URL (`…/v1/watch/{tenant}?health=true`), or a function asked before every connection. */
  url: string | (() => string);
  /** Sent as `Authorization: Bearer`. */
  apiKey?: string | undefined;
  /** More request headers. */
  headers?: Record<string, string> | undefined;
  /** Default: the global `fetch`. */
  fetch?: WatchFetch | undefined;
  /** The reconnect backoff: full jitter, uniform in [0, min(max, base × 2^failures)]. Defaults 250 and 30 000. */
  backoffBaseMs?: number | undefined;
  backoffMaxMs?: number | undefined;
  /** The most a 503's or a 429's `Retry-After` makes the watch wait. Default 60 000. */
  maxRetryAfterMs?: number | undefined;
  /** The caller's monotonic clock in ms (bookmark arrival, silence). Default `performance.now()`. */
  now?: (() => number) | undefined;
  /** Closes the client when aborted. */
  signal?: AbortSignal | undefined;
}

const DEFAULT_BOOKMARK_INTERVAL_MS = 5000;
/** A watch silent for this many bookmark intervals is down. */
const SILENT_INTERVALS = 3;
const MAX_ERROR_BODY = 16_384;

type Timer = ReturnType<typeof setTimeout>;

/** Timers of the watch never keep a process alive: unref() where the runtime has it (Node), nothing to do elsewhere. */
function unrefTimer(timer: Timer): Timer {
  const handle = timer as unknown as { unref?: unknown };
  if (typeof handle === 'object' && handle !== null && typeof handle.unref === 'function') (handle as { unref(): void }).unref();
  return timer;
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class WatchClient {
  private stateNow: WatchState = 'connecting';
  private started = false;
  private closed = false;
  /** Bumped by every connection and every end: callbacks of an older one are ignored. */
  private generation = 0;
  private abort: AbortController | undefined;
  private retryTimer: Timer | undefined;
  private silenceTimer: Timer | undefined;
  private silenceLimitMs = SILENT_INTERVALS * DEFAULT_BOOKMARK_INTERVAL_MS;
  private lastActivity = 0;
  private opened = false;
  private attempt = 0;
  private snapshotDone = false;
  /** The snapshot being received (events without id before its bookmark). */
  private pending: WatchChange[] = [];
  /** The revision being received after the snapshot: its changes without an id line, until its last. */
  private partial: WatchChange[] = [];
  private resumeFrom: number | undefined;
  private lastBookmark: ReceivedBookmark | undefined;
  private readonly fetch: WatchFetch;
  private readonly now: () => number;

  constructor(
    private readonly options: WatchClientOptions,
    private readonly listener: WatchListener = {},
  ) {
    this.fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.now = options.now ?? (() => performance.now());
    options.signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  /** Connects (once; later calls do nothing). */
  start(): this {
    if (this.started || this.closed) return this;
    this.started = true;
    if (this.options.signal?.aborted) this.close();
    else this.connect();
    return this;
  }

  get state(): WatchState {
    return this.stateNow;
  }

  /** True while the snapshot (or the resume) is through and the stream is up. */
  get synced(): boolean {
    return this.stateNow === 'synced';
  }

  /** The revision a reconnect resumes after (`Last-Event-ID`); undefined: the next stream is a snapshot. */
  get lastEventId(): number | undefined {
    return this.snapshotDone ? this.resumeFrom : undefined;
  }

  /** The last bookmark received (kept across reconnects; dropped by a reset). */
  get bookmark(): ReceivedBookmark | undefined {
    return this.lastBookmark;
  }

  /** How stale what the watch delivered is now: the last bookmark's `ageMs` plus the time since it arrived (Infinity before one). */
  stalenessMs(now = this.now()): number {
    const b = this.lastBookmark;
    return b === undefined ? Infinity : watchStaleness(Math.max(0, b.ageMs), b.receivedAt, now);
  }

  /** Ends the stream and every timer for good. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    this.stopStream();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.pending = [];
    this.partial = [];
    this.setState('closed');
  }

  private connect(): void {
    if (this.closed) return;
    const generation = ++this.generation;
    if (!this.snapshotDone) this.pending = [];
    this.partial = [];
    const since = this.lastEventId;
    const url = typeof this.options.url === 'function' ? this.options.url() : this.options.url;
    const headers: Record<string, string> = { ...this.options.headers, accept: 'text/event-stream', 'cache-control': 'no-cache' };
    if (this.options.apiKey !== undefined) headers['authorization'] = `Bearer ${this.options.apiKey}`;
    if (since !== undefined) headers[WatchHeaders.lastEventId] = String(since);
    const abort = new AbortController();
    this.abort = abort;
    this.opened = false;
    this.armSilence(generation, DEFAULT_BOOKMARK_INTERVAL_MS);
    this.listener.connecting?.({ url, since });
    if (generation !== this.generation) return;
    let answer: Promise<WatchResponse>;
    try {
      answer = this.fetch(url, { method: 'GET', headers, signal: abort.signal });
    } catch (e) {
      answer = Promise.reject(e);
    }
    answer.then(
      (res) => this.onResponse(generation, url, since, res),
      (e: unknown) => this.fail(generation, { kind: 'network', cause: e, message: messageOf(e), opened: false, retryInMs: 0 }),
    ).catch(rethrow);
  }

  private async onResponse(generation: number, url: string, since: number | undefined, res: WatchResponse): Promise<void> {
    if (generation !== this.generation) {
      void res.body?.getReader().cancel().catch(() => undefined);
      return;
    }
    if (res.status !== 200 || res.body === null) {
      await this.refused(generation, res);
      return;
    }
    const interval = Number(res.headers.get(WatchHeaders.bookmarkInterval) ?? NaN);
    const bookmarkIntervalMs = Number.isFinite(interval) && interval > 0 ? interval : DEFAULT_BOOKMARK_INTERVAL_MS;
    this.opened = true;
    this.armSilence(generation, bookmarkIntervalMs);
    this.listener.open?.({ url, since, bookmarkIntervalMs });
    if (generation !== this.generation) return;
    if (this.snapshotDone) this.markSynced();
    if (generation !== this.generation) return;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser((event) => {
      if (generation === this.generation) this.onEvent(event);
    });
    for (;;) {
      let chunk: { done: boolean; value?: Uint8Array | undefined };
      try {
        chunk = await reader.read();
      } catch (e) {
        this.fail(generation, { kind: 'network', cause: e, message: messageOf(e), opened: true, retryInMs: 0 });
        return;
      }
      if (generation !== this.generation) {
        reader.cancel().catch(() => undefined);
        return;
      }
      if (chunk.done) {
        this.fail(generation, { kind: 'ended', message: 'the stream ended', retryInMs: 0 });
        return;
      }
      this.lastActivity = this.now();
      if (chunk.value !== undefined) parser.push(decoder.decode(chunk.value, { stream: true }));
    }
  }

  /** An answer other than 200: its body (a problem), then a reconnect as the status says. */
  private async refused(generation: number, res: WatchResponse): Promise<void> {
    let body = '';
    const reader = res.body?.getReader();
    if (reader !== undefined) {
      const decoder = new TextDecoder();
      try {
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
          if (chunk.value !== undefined) body += decoder.decode(chunk.value, { stream: true });
          if (body.length >= MAX_ERROR_BODY) {
            await reader.cancel().catch(() => undefined);
            break;
          }
        }
      } catch {
        // The body is for the message only.
      }
    }
    if (generation !== this.generation) return;
    const status = res.status;
    const retryAfter = res.headers.get('retry-after') ?? undefined;
    const failure: WatchFailure = {
      kind: 'http',
      status,
      statusText: res.statusText,
      body: body.slice(0, MAX_ERROR_BODY),
      retryAfter,
      message: `the watch answered ${status}${res.statusText ? ` ${res.statusText}` : ''}`,
      retryInMs: 0,
    };
    if (status === 410 || status === 412 || status === 400) {
      // Compacted (or a revision the store does not know): drop the resume point and take a new snapshot at once.
      this.snapshotDone = false;
      this.resumeFrom = undefined;
      this.lastBookmark = undefined;
      this.pending = [];
      this.listener.reset?.(failure);
      this.fail(generation, failure, 0);
      return;
    }
    // 503 and 429 (watch_stream_quota, rate_limited): not before Retry-After (nor the backoff); without one, the backoff.
    const waitMs = status === 503 || status === 429 ? parseRetryAfter(retryAfter) : undefined;
    this.fail(generation, failure, waitMs === undefined ? undefined : Math.min(Math.max(waitMs, 1), this.options.maxRetryAfterMs ?? 60_000));
  }

  private onEvent(event: SseEvent): void {
    const id = event.id === undefined ? undefined : parseRevision(event.id);
    switch (event.event) {
      case WatchEvents.put:
      case WatchEvents.delete: {
        const route = parseChange(event.data);
        if (!route) return;
        const change: WatchChange = { ...route, kind: event.event, id };
        if (id === undefined) {
          // A snapshot's route, or a change of a revision whose last frame is still to come.
          (this.snapshotDone ? this.partial : this.pending).push(change);
          return;
        }
        this.resumeFrom = id;
        this.handOver(change);
        return;
      }
      case WatchEvents.bookmark: {
        const parsed = parseBookmark(event.data);
        if (!parsed) return;
        const generation = this.generation;
        const bookmark: ReceivedBookmark = { ...parsed, id, receivedAt: this.now() };
        if (bookmark.snapshot && !this.snapshotDone) {
          const routes = this.pending;
          this.pending = [];
          this.snapshotDone = true;
          this.resumeFrom = undefined;
          this.listener.snapshot?.(routes, bookmark);
          if (generation !== this.generation) return;
        }
        if (!this.snapshotDone) return;
        // A bookmark covers every change up to it: frames of a revision without its id line (never
        // sent by the contract's server) are handed over before it rather than lost.
        if (this.partial.length > 0) this.handOver(undefined);
        if (generation !== this.generation) return;
        this.resumeFrom = Math.max(this.resumeFrom ?? 0, id ?? bookmark.revision);
        this.lastBookmark = bookmark;
        this.listener.bookmark?.(bookmark);
        if (generation === this.generation) this.markSynced();
        return;
      }
      case WatchEvents.health: {
        const health = parseHealth(event.data);
        if (health) this.listener.health?.(health);
        return;
      }
      default:
        // Anything unknown (a later version's events).
        return;
    }
  }

  /** Hands over the held changes of a revision, then `last` (its frame with the id line), back to back. */
  private handOver(last: WatchChange | undefined): void {
    const changes = this.partial;
    this.partial = [];
    if (last !== undefined) changes.push(last);
    const generation = this.generation;
    for (const change of changes) {
      if (generation !== this.generation) return;
      this.listener.change?.(change);
    }
  }

  private markSynced(): void {
    if (this.closed) return;
    this.attempt = 0;
    this.setState('synced');
  }

  /** The stream is over: down, then a reconnect after a jittered backoff (or `delayMs`). */
  private fail(generation: number, failure: WatchFailure, delayMs?: number): void {
    if (generation !== this.generation || this.closed) return;
    this.generation++;
    this.stopStream();
    if (!this.snapshotDone) this.pending = [];
    // A revision cut short is dropped: the resume (from before it) sends it whole.
    this.partial = [];
    const backoff = this.backoffMs();
    const wait = delayMs === undefined ? backoff : delayMs === 0 ? 0 : Math.max(delayMs, backoff);
    failure.retryInMs = wait;
    this.retryTimer = unrefTimer(
      setTimeout(() => {
        this.retryTimer = undefined;
        this.connect();
      }, wait),
    );
    this.listener.error?.(failure);
    if (this.closed) return;
    this.setState('down');
  }

  /** Full jitter: uniform in [0, min(max, base * 2^attempt)]. */
  private backoffMs(): number {
    const ceiling = Math.min(this.options.backoffMaxMs ?? 30_000, (this.options.backoffBaseMs ?? 250) * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(Math.random() * ceiling);
  }

  /** Fails the connection once nothing arrived for 3 bookmark intervals (checked when due, not re-armed per chunk). */
  private armSilence(generation: number, bookmarkIntervalMs: number): void {
    if (this.silenceTimer !== undefined) clearTimeout(this.silenceTimer);
    this.silenceLimitMs = SILENT_INTERVALS * bookmarkIntervalMs;
    this.lastActivity = this.now();
    const check = (): void => {
      const quietMs = this.now() - this.lastActivity;
      if (quietMs < this.silenceLimitMs) {
        this.silenceTimer = unrefTimer(setTimeout(check, this.silenceLimitMs - quietMs));
        return;
      }
      this.fail(generation, {
        kind: 'silent',
        silentMs: this.silenceLimitMs,
        message: `nothing for ${this.silenceLimitMs} ms (3 bookmark intervals)`,
        opened: this.opened,
        retryInMs: 0,
      });
    };
    this.silenceTimer = unrefTimer(setTimeout(check, this.silenceLimitMs));
  }

  private stopStream(): void {
    if (this.silenceTimer !== undefined) clearTimeout(this.silenceTimer);
    this.silenceTimer = undefined;
    const abort = this.abort;
    this.abort = undefined;
    abort?.abort();
  }

  private setState(state: WatchState): void {
    if (this.stateNow === state) return;
    this.stateNow = state;
    this.listener.state?.(state);
  }
}

/** A listener's exception is the caller's bug: thrown where nothing catches it, as an event handler's would be. */
function rethrow(e: unknown): void {
  setTimeout(() => {
    throw e;
  }, 0);
}
