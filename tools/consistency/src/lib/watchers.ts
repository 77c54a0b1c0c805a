import { WatchClient, type WatchFailure } from '@tm/watch';
import { now } from './clock';

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
  | {
      kind: 'change';
      /** The change's revision (its event's `data.revision`). */
      revision: number;
      /**
       * Its `id` line: the revision on the last frame of a revision, null on the others (a change set's);
       * absent in runs saved before change sets (each frame had its id, equal to `revision`).
       */
      id?: number | null;
      /** The CloudEvent's `changesetsize`: how many routes the revision changed in all (absent: not sent). */
      setSize?: number;
      key: string;
      url: string | null;
      deleted: boolean;
      eventId: string;
      at: number;
    }
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

/** Reconnects: 100 ms after a stream, up to 500 ms after refusals in a row (full jitter); a 503's Retry-After at most 1 s (the next replica may serve). */
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 500;
const MAX_RETRY_AFTER_MS = 1_000;

/**
 * A client of the watch as the contract describes one (@tm/watch's): a snapshot first, then changes;
 * on any end (a killed replica, a silence of three bookmark intervals) it resumes on the next replica
 * with Last-Event-ID; on 410 it takes a new snapshot. It records everything for the checker.
 */
export class Watcher {
  readonly log: WatcherLog;
  /** The latest bookmark's revision (the checker's drain waits for it). */
  lastBookmark = -1;
  private readonly watch: WatchClient;
  private attempt = 0;
  /** The connection being made: its resolver, when it was asked for, and its segment once it opened. */
  private current: { resolver: number; startedAt: number; segment?: WatchSegment } | undefined;

  constructor(spec: WatcherSpec, resolvers: () => string[]) {
    this.log = { name: spec.name, tenant: spec.tenant, segments: [], compacted: 0, refused: {}, refusals: [] };
    if (spec.credential !== undefined) this.log.credential = spec.credential;
    this.watch = new WatchClient(
      {
        // Each connection goes to the next replica.
        url: () => {
          const urls = resolvers();
          const resolver = this.attempt++ % Math.max(1, urls.length);
          this.current = { resolver, startedAt: now() };
          return `${urls[resolver] ?? 'http://127.0.0.1:9'}${spec.path}`;
        },
        apiKey: spec.token,
        backoffBaseMs: BACKOFF_BASE_MS,
        backoffMaxMs: BACKOFF_MAX_MS,
        maxRetryAfterMs: MAX_RETRY_AFTER_MS,
        now,
      },
      {
        open: ({ since }) => {
          if (!this.current) return;
          const segment: WatchSegment = { resolver: this.current.resolver, startedAt: this.current.startedAt, openedAt: now(), frames: [] };
          if (since !== undefined) segment.since = since;
          this.current.segment = segment;
          this.log.segments.push(segment);
        },
        snapshot: (routes, bookmark) => {
          const segment = this.current?.segment;
          if (segment) segment.snapshot = { asOf: bookmark.revision, routes: routes.map((r) => ({ key: r.event.subject, url: r.url ?? '', revision: r.revision })), at: bookmark.receivedAt };
        },
        change: (change) => {
          // Every frame, with its id line or none (only a revision's last carries one): the checker holds
          // the revision's frames to coming together, whole, in route-key order, the id on the last.
          const frame: WatchFrame = {
            kind: 'change',
            revision: change.revision,
            id: change.id ?? null,
            key: change.event.subject,
            url: change.event.data.url,
            deleted: change.kind === 'delete',
            eventId: change.event.id,
            at: now(),
          };
          if (change.event.changesetsize !== undefined) frame.setSize = change.event.changesetsize;
          this.current?.segment?.frames.push(frame);
        },
        bookmark: (bookmark) => {
          if (!bookmark.snapshot) this.current?.segment?.frames.push({ kind: 'bookmark', revision: bookmark.revision, ageMs: bookmark.ageMs, at: bookmark.receivedAt });
          this.lastBookmark = bookmark.revision;
        },
        error: (failure) => this.ended(failure),
      },
    );
  }

  start(): void {
    this.watch.start();
  }

  async stop(): Promise<void> {
    this.watch.close();
    this.endSegment('stopped');
  }

  /** A connection's end: the segment's reason, or a refusal (status, or the error's name) when no stream opened. */
  private ended(failure: WatchFailure): void {
    const current = this.current;
    if (current?.segment) {
      this.endSegment(failure.kind === 'ended' ? 'ended by the server' : failure.kind === 'silent' ? 'silent for 3 bookmark intervals' : `failed: ${failure.message}`);
      return;
    }
    this.current = undefined;
    const start = current?.startedAt ?? now();
    if (failure.kind === 'http' && failure.status === 410) {
      this.log.compacted++;
      this.log.refusals?.push({ start, end: now(), status: '410' });
      return;
    }
    const reason = failure.kind === 'http' ? String(failure.status) : failure.kind === 'network' && failure.cause instanceof Error ? failure.cause.name : failure.kind;
    this.log.refused[reason] = (this.log.refused[reason] ?? 0) + 1;
    this.log.refusals?.push({ start, end: now(), status: reason });
  }

  private endSegment(reason: string): void {
    const segment = this.current?.segment;
    this.current = undefined;
    if (!segment) return;
    segment.end ??= reason;
    segment.endedAt = now();
  }
}
