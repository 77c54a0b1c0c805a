import { parseSseBlock, WatchHeaders, type RouteEvent, type WatchBookmark } from '@tm/contracts';
import { now } from './workload';

/** What a watcher received on one connection. */
export interface WatchSegment {
  resolver: number;
  /** When it was asked for, when its 200 arrived and when it ended (absent in runs saved before they were kept). */
  startedAt?: number;
  openedAt?: number;
  endedAt?: number;
  /** `since` it resumed after (Last-Event-ID); undefined: it asked for a snapshot. */
  since?: number;
  /** The snapshot's routes and as-of revision, once its bookmark arrived. */
  snapshot?: { asOf: number; routes: { key: string; url: string; revision: number }[]; at?: number };
  /** Changes and bookmarks after the snapshot (or the resume point), in arrival order. */
  frames: WatchFrame[];
  /** Why it ended. */
  end?: string;
}

export type WatchFrame =
  | { kind: 'change'; revision: number; key: string; url: string | null; deleted: boolean; eventId: string; at: number }
  | { kind: 'bookmark'; revision: number; ageMs: number; at: number };

/** One watcher's whole record: what it watched and every connection it made. */
export interface WatcherLog {
  name: string;
  /** The tenant it sees: its path's, or its key's on /v1/watch; null: every tenant (the admin token on /v1/watch). */
  tenant: string | null;
  segments: WatchSegment[];
  /** 410 answers (it then took a new snapshot). */
  compacted: number;
  /** Refusals and failed connections by status or error, before a stream opened. */
  refused: Record<string, number>;
  /** The same one by one, with when each was asked for and answered, and 410s (absent in runs saved before). */
  refusals?: Refusal[];
  /** The victim key's generation it watches with (`victim-<n>`); absent: a tenant key or the admin token. */
  credential?: string;
}

/** A connection that opened no stream: its status, or the error when no answer came. */
export interface Refusal {
  start: number;
  end: number;
  status: string;
}

export interface WatcherSpec {
  name: string;
  path: string;
  token: string;
  tenant: string | null;
  credential?: string;
}

/** After a refusal of the key itself (401, 403) a watcher waits this long: its key will not come back. */
const AUTH_REFUSED_PAUSE_MS = 500;

/**
 * A client of the watch as the contract describes one: a snapshot first, then changes; on any end
 * (a killed replica, a silence of three bookmark intervals) it resumes on the next replica with
 * Last-Event-ID; on 410 it takes a new snapshot. It records everything for the checker.
 */
export class Watcher {
  readonly log: WatcherLog;
  private stopped = false;
  private abort: AbortController | undefined;
  private running: Promise<void> | undefined;
  private lastId: number | undefined;
  /** The latest bookmark's revision (the checker's drain waits for it). */
  lastBookmark = -1;

  constructor(
    private readonly spec: WatcherSpec,
    private readonly resolvers: () => string[],
  ) {
    this.log = { name: spec.name, tenant: spec.tenant, segments: [], compacted: 0, refused: {}, refusals: [] };
    if (spec.credential !== undefined) this.log.credential = spec.credential;
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.running;
  }

  private refuse(reason: string, start: number): void {
    this.log.refused[reason] = (this.log.refused[reason] ?? 0) + 1;
    this.log.refusals?.push({ start, end: now(), status: reason });
  }

  private async loop(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      const urls = this.resolvers();
      const resolver = attempt % Math.max(1, urls.length);
      const base = urls[resolver];
      const refused = base ? await this.connect(base, resolver) : undefined;
      const pause = refused === '401' || refused === '403' ? AUTH_REFUSED_PAUSE_MS : 50 + Math.random() * 100;
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** One connection, to its end; the status (or error) of a refusal, undefined once a stream opened. */
  private async connect(base: string, resolver: number): Promise<string | undefined> {
    const abort = new AbortController();
    this.abort = abort;
    const headers: Record<string, string> = { authorization: `Bearer ${this.spec.token}`, accept: 'text/event-stream' };
    if (this.lastId !== undefined) headers[WatchHeaders.lastEventId] = String(this.lastId);
    const startedAt = now();
    let res: Response;
    try {
      res = await fetch(`${base}${this.spec.path}`, { headers, signal: abort.signal });
    } catch (e) {
      const reason = e instanceof Error ? e.name : 'error';
      this.refuse(reason, startedAt);
      return reason;
    }
    if (res.status === 410) {
      await res.text().catch(() => undefined);
      this.log.compacted++;
      this.log.refusals?.push({ start: startedAt, end: now(), status: '410' });
      this.lastId = undefined;
      return '410';
    }
    if (res.status !== 200 || !res.body) {
      await res.text().catch(() => undefined);
      this.refuse(String(res.status), startedAt);
      return String(res.status);
    }
    const segment: WatchSegment = { resolver, startedAt, openedAt: now(), frames: [] };
    if (this.lastId !== undefined) segment.since = this.lastId;
    this.log.segments.push(segment);
    const intervalMs = Number(res.headers.get(WatchHeaders.bookmarkInterval) ?? 5_000);
    const pending: { key: string; url: string; revision: number }[] = [];
    let silence: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(silence);
      silence = setTimeout(() => {
        segment.end = 'silent for 3 bookmark intervals';
        abort.abort();
      }, 3 * intervalMs);
    };
    arm();
    const decoder = new TextDecoder();
    let buffer = '';
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        buffer += decoder.decode(value, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          this.frame(block, segment, pending);
        }
      }
      segment.end ??= 'ended by the server';
    } catch (e) {
      segment.end ??= this.stopped ? 'stopped' : `failed: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      segment.endedAt = now();
      clearTimeout(silence);
      abort.abort();
    }
    return undefined;
  }

  private frame(block: string, segment: WatchSegment, pending: { key: string; url: string; revision: number }[]): void {
    const { event, id, data } = parseSseBlock(block);
    const at = now();
    if (event === 'bookmark') {
      const b = JSON.parse(data) as WatchBookmark;
      if (b.snapshot) segment.snapshot = { asOf: b.revision, routes: pending.splice(0), at };
      else segment.frames.push({ kind: 'bookmark', revision: b.revision, ageMs: b.ageMs, at });
      this.lastBookmark = b.revision;
    } else if (event === 'put' || event === 'delete') {
      const e = JSON.parse(data) as RouteEvent;
      if (id === undefined) {
        pending.push({ key: e.subject, url: e.data.url ?? '', revision: e.data.revision });
        return;
      }
      segment.frames.push({ kind: 'change', revision: Number(id), key: e.subject, url: e.data.url, deleted: event === 'delete', eventId: e.id, at });
    }
    if (id !== undefined) this.lastId = Number(id);
  }
}
