import { parseSseBlock, WatchHeaders, type RouteEvent, type WatchBookmark } from '@tm/contracts';
import { now } from './workload';

/** What a watcher received on one connection. */
export interface WatchSegment {
  resolver: number;
  /** `since` it resumed after (Last-Event-ID); undefined: it asked for a snapshot. */
  since?: number;
  /** The snapshot's routes and as-of revision, once its bookmark arrived. */
  snapshot?: { asOf: number; routes: { key: string; url: string; revision: number }[] };
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
}

export interface WatcherSpec {
  name: string;
  path: string;
  token: string;
  tenant: string | null;
}

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
    this.log = { name: spec.name, tenant: spec.tenant, segments: [], compacted: 0, refused: {} };
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.running;
  }

  private refuse(reason: string): void {
    this.log.refused[reason] = (this.log.refused[reason] ?? 0) + 1;
  }

  private async loop(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      const urls = this.resolvers();
      const resolver = attempt % Math.max(1, urls.length);
      const base = urls[resolver];
      if (base) await this.connect(base, resolver);
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
    }
  }

  private async connect(base: string, resolver: number): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    const headers: Record<string, string> = { authorization: `Bearer ${this.spec.token}`, accept: 'text/event-stream' };
    if (this.lastId !== undefined) headers[WatchHeaders.lastEventId] = String(this.lastId);
    let res: Response;
    try {
      res = await fetch(`${base}${this.spec.path}`, { headers, signal: abort.signal });
    } catch (e) {
      this.refuse(e instanceof Error ? e.name : 'error');
      return;
    }
    if (res.status === 410) {
      await res.text().catch(() => undefined);
      this.log.compacted++;
      this.lastId = undefined;
      return;
    }
    if (res.status !== 200 || !res.body) {
      await res.text().catch(() => undefined);
      this.refuse(String(res.status));
      return;
    }
    const segment: WatchSegment = { resolver, frames: [] };
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
      clearTimeout(silence);
      abort.abort();
    }
  }

  private frame(block: string, segment: WatchSegment, pending: { key: string; url: string; revision: number }[]): void {
    const { event, id, data } = parseSseBlock(block);
    const at = now();
    if (event === 'bookmark') {
      const b = JSON.parse(data) as WatchBookmark;
      if (b.snapshot) segment.snapshot = { asOf: b.revision, routes: pending.splice(0) };
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
