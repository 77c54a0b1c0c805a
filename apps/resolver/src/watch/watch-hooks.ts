import type { ChangesAfter } from '@tm/persistence';

/** Points in the watch where tests force an interleaving. Production binds none. */
export interface WatchHooks {
  /** The feed read the outbox, before it fans the changes out or proves anything. */
  feedRead?(read: ChangesAfter): Promise<void>;
  /** A stream resuming from the outbox is about to read its next page (after `position`). */
  beforeHistoryPage?(position: number): Promise<void>;
  /** A stream was admitted and is about to read its snapshot. */
  beforeSnapshotRead?(): Promise<void>;
  /** A snapshot was read (as of `asOf`), before it is written and the stream joins the feed. */
  afterSnapshot?(asOf: number): Promise<void>;
  /** How many of the newest changes the feed starts with (default HISTORY_MIN_ENTRIES; 0: it starts at the store's revision, as a replica's memory did before). */
  primeChanges?: number;
}

export const WATCH_HOOKS = Symbol('WATCH_HOOKS');
