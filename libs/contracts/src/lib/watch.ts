/**
 * The watch's wire format (docs/guarantees.md, "Watch"): what the resolver sends and the SDK reads.
 * Server-Sent Events; `put` and `delete` carry the route's CloudEvent, `bookmark` a WatchBookmark.
 */

export const WatchEvents = {
  put: 'put',
  delete: 'delete',
  bookmark: 'bookmark',
  health: 'health',
} as const;
export type WatchEventName = (typeof WatchEvents)[keyof typeof WatchEvents];

export const WatchHeaders = {
  /** The most time between two bookmarks of a stream: a client silent for 3 of these treats the watch as down. */
  bookmarkInterval: 'x-watch-bookmark-interval-ms',
  /** Sent by a reconnecting EventSource; wins over `?since=`. */
  lastEventId: 'last-event-id',
} as const;

/**
 * `event: bookmark`: every matching change with revision <= `revision` has been sent, and
 * `revision` was the store's revision at `knownCurrentAt` (the database's clock). `ageMs` is how
 * long before the bookmark was sent that was established, on the resolver's monotonic clock.
 */
export interface WatchBookmark {
  revision: number;
  knownCurrentAt: string;
  ageMs: number;
  /** true on the bookmark that ends a snapshot. */
  snapshot: boolean;
}

/** The 410 problem's extra members: `compactRevision` is the smallest `since` still accepted. */
export interface WatchCompacted {
  compactRevision: number;
  currentRevision: number;
}

/** The most staleness any answer may have, at the resolver and in the SDK's memory (G3). */
export const MAX_STALENESS_MS = 60_000;

/**
 * How old a watch's view is now, on the caller's own monotonic clock: the bookmark's `ageMs` when it
 * arrived plus the time since. No clock of another host enters it.
 */
export function watchStaleness(bookmarkAgeMs: number, receivedAtMs: number, nowMs: number): number {
  return bookmarkAgeMs + Math.max(0, nowMs - receivedAtMs);
}

/**
 * A revision given as `since` or `Last-Event-ID`: a non-negative safe integer in decimal, else
 * undefined (the resolver answers 400).
 */
export function parseRevision(raw: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}
