import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isValidName, parseRevision, WatchEvents, WatchHeaders } from '@tm/contracts';
import { httpError, parseRetryAfter, TrafficManagerError } from './errors';
import { SseParser, type SseEvent } from './sse';
import { parseBookmark, parseChange, type WatchConfig } from './watch';

/** One event of `client.follow()`, in the order the resolver's watch sent it. */
export type FollowEvent =
  /** A route's state: `snapshot` true for the current state the stream opens with (no revision id yet). */
  | { type: 'put'; route: string; url: string; revision: number; snapshot: boolean; data: string }
  | { type: 'delete'; route: string; revision: number; data: string }
  /** Every change up to `revision` has been delivered; `snapshot` true ends the opening snapshot. */
  | { type: 'bookmark'; revision: number; snapshot: boolean; ageMs: number; data: string }
  /** An event this version does not know (a later server's): its name, id and data as sent. */
  | { type: 'other'; event: string; id: string | undefined; data: string }
  /**
   * The stream is down; it reconnects in `retryInMs`, resuming after the last revision seen
   * (`Last-Event-ID`). `wasUp`: whether a stream of this follow ever opened.
   */
  | { type: 'down'; error: TrafficManagerError; retryInMs: number; wasUp: boolean }
  /** The resolver no longer has the history to resume from (410): a new snapshot follows. */
  | { type: 'reset'; error: TrafficManagerError };

export interface FollowOptions {
  /** One tenant's routes (`/v1/watch/{tenant}`); absent: every route the key may read (`/v1/watch`). */
  tenant?: string | undefined;
}

/** A running `client.follow()`: `close()` ends it. */
export interface Follow {
  close(): void;
}

const DEFAULT_BOOKMARK_INTERVAL_MS = 5000;
const SILENT_INTERVALS = 3;
const MAX_RETRY_AFTER_MS = 60_000;
const MAX_ERROR_BODY = 16_384;

/**
 * Follows the resolver's watch event by event, as the SDK's tenant watches do: resume with
 * `Last-Event-ID` after any disconnect, jittered exponential backoff, `Retry-After` on 503/429,
 * a new snapshot after a 410, a stream silent for 3 bookmark intervals treated as down. Its
 * timers and socket never keep the process alive.
 */
export function follow(target: WatchConfig, options: FollowOptions, listener: (event: FollowEvent) => void): Follow {
  const tenant = options.tenant;
  if (tenant !== undefined && !isValidName(tenant)) throw new TrafficManagerError('invalid_argument', `not a tenant name: ${String(tenant).slice(0, 100)}`);
  const url = new URL(`${target.resolverUrl}/v1/watch${tenant === undefined ? '' : `/${tenant}`}`);
  let lastEventId: number | undefined;
  let req: ClientRequest | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let silenceTimer: NodeJS.Timeout | undefined;
  let attempt = 0;
  let generation = 0;
  let closed = false;
  let wasUp = false;
  let snapshotDone = false;

  const emit = (event: FollowEvent): void => {
    try {
      listener(event);
    } catch {
      // The listener's failure is its own; the follow goes on.
    }
  };

  const stop = (): void => {
    if (silenceTimer) clearTimeout(silenceTimer);
    silenceTimer = undefined;
    req?.destroy();
    req = undefined;
  };

  const fail = (gen: number, error: TrafficManagerError, delayMs?: number): void => {
    if (gen !== generation || closed) return;
    generation++;
    stop();
    const ceiling = Math.min(target.backoffMaxMs, target.backoffBaseMs * 2 ** attempt);
    attempt = Math.min(attempt + 1, 30);
    const backoff = Math.round(Math.random() * ceiling);
    const wait = delayMs === 0 ? 0 : Math.max(delayMs ?? 0, backoff);
    emit({ type: 'down', error, retryInMs: wait, wasUp });
    if (closed) return;
    retryTimer = setTimeout(connect, wait);
    retryTimer.unref();
  };

  const arm = (gen: number, intervalMs: number): void => {
    if (silenceTimer) clearTimeout(silenceTimer);
    const limit = SILENT_INTERVALS * intervalMs;
    silenceTimer = setTimeout(() => fail(gen, new TrafficManagerError('timeout', `watch: nothing for ${limit} ms (3 bookmark intervals)`)), limit);
    silenceTimer.unref();
  };

  const onEvent = (event: SseEvent): void => {
    const id = event.id === undefined ? undefined : parseRevision(event.id);
    if (event.event === WatchEvents.put || event.event === WatchEvents.delete) {
      const change = parseChange(event.data);
      if (!change) return;
      const route = `${change.tenant}/${change.service}/${change.environment}`;
      if (event.event === WatchEvents.put && change.url !== null) {
        emit({ type: 'put', route, url: change.url, revision: change.revision, snapshot: id === undefined && !snapshotDone, data: event.data });
      } else {
        emit({ type: 'delete', route, revision: change.revision, data: event.data });
      }
      if (id !== undefined) lastEventId = id;
    } else if (event.event === WatchEvents.bookmark) {
      const bookmark = parseBookmark(event.data);
      if (!bookmark) return;
      if (bookmark.snapshot) snapshotDone = true;
      if (!snapshotDone) return;
      attempt = 0;
      lastEventId = Math.max(lastEventId ?? 0, id ?? bookmark.revision);
      emit({ type: 'bookmark', revision: bookmark.revision, snapshot: bookmark.snapshot, ageMs: bookmark.ageMs, data: event.data });
    } else {
      emit({ type: 'other', event: event.event, id: event.id, data: event.data });
    }
  };

  const onError = (gen: number, res: IncomingMessage, status: number): void => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (body.length < MAX_ERROR_BODY) body += chunk;
    });
    const done = (): void => {
      if (gen !== generation || closed) return;
      const header = res.headers['retry-after'];
      const retryAfter = typeof header === 'string' ? header : undefined;
      const error = httpError(status, res.statusMessage ?? '', body, retryAfter);
      if (status === 410 || status === 412 || status === 400) {
        // Compacted (or a revision the store does not know): start again from a snapshot.
        lastEventId = undefined;
        snapshotDone = false;
        emit({ type: 'reset', error });
        fail(gen, error, 0);
        return;
      }
      const waitMs = status === 503 || status === 429 ? parseRetryAfter(retryAfter) : undefined;
      fail(gen, error, waitMs === undefined ? undefined : Math.min(Math.max(waitMs, 1), MAX_RETRY_AFTER_MS));
    };
    res.on('end', done);
    res.on('error', done);
  };

  function connect(): void {
    retryTimer = undefined;
    if (closed) return;
    const gen = ++generation;
    const resume = snapshotDone && lastEventId !== undefined;
    if (!resume) snapshotDone = false;
    const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache' };
    if (target.apiKey !== undefined) headers['authorization'] = `Bearer ${target.apiKey}`;
    if (resume) headers[WatchHeaders.lastEventId] = String(lastEventId);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const r = request(url, { method: 'GET', headers, agent: false });
    req = r;
    r.on('socket', (socket) => socket.unref());
    r.on('error', (e) => fail(gen, new TrafficManagerError('network', `watch: ${e.message}`, { cause: e })));
    r.on('response', (res) => {
      if (gen !== generation) return void res.destroy();
      const status = res.statusCode ?? 0;
      if (status !== 200) return onError(gen, res, status);
      wasUp = true;
      const header = Number(res.headers[WatchHeaders.bookmarkInterval]);
      arm(gen, Number.isFinite(header) && header > 0 ? header : DEFAULT_BOOKMARK_INTERVAL_MS);
      const parser = new SseParser((event) => {
        if (gen === generation) onEvent(event);
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (gen !== generation) return;
        silenceTimer?.refresh();
        parser.push(chunk);
      });
      res.on('end', () => fail(gen, new TrafficManagerError('network', 'watch: the stream ended')));
      res.on('error', (e) => fail(gen, new TrafficManagerError('network', `watch: ${e.message}`, { cause: e })));
    });
    arm(gen, DEFAULT_BOOKMARK_INTERVAL_MS);
    r.end();
  }

  connect();
  return {
    close(): void {
      if (closed) return;
      closed = true;
      generation++;
      stop();
      if (retryTimer) clearTimeout(retryTimer);
    },
  };
}
