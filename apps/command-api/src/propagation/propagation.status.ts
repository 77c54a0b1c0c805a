import { type FeedReports, type PartitionOffsets } from '@tm/propagation';

/** Offsets by partition of the route events topic. */
export type Offsets = PartitionOffsets;

/** One resolver replica in a propagation status. */
export interface ResolverFeed {
  replica: string;
  feedRevision: number;
  /** RFC 3339: when it last reported. */
  seenAt: string;
  live: boolean;
}

/** The answer of GET /v1/revisions/{R} (docs/guarantees.md, "Propagation"). */
export interface PropagationStatus {
  revision: number;
  /** When revision R was committed; null once its outbox rows are gone (retention) or when it could not be read. */
  committedAt: string | null;
  status: 'pending' | 'in-sync';
  published: boolean;
  cacheApplied: boolean;
  resolvers: ResolverFeed[];
  checkedAt: string;
}

/** What the database says about a revision R, read in one snapshot. */
export interface StoreFacts {
  /** The store's revision. */
  current: number;
  /** The lowest revision with an unpublished outbox row; null: none. */
  firstUnpublished: number | null;
  committedAt: Date | null;
  /** The relay's position of the smallest recorded revision >= R: offsets covering every event up to R; undefined: none yet. */
  position: Offsets | undefined;
}

/** Everything a status is decided from; undefined Kafka or Redis facts: that system did not answer. */
export interface PropagationFacts {
  revision: number;
  store: StoreFacts;
  /** The worker group's committed offsets (the next offset it will read), by partition. */
  committed: Offsets | undefined;
  feeds: FeedReports | undefined;
  replicaTimeoutMs: number;
  checkedAt: Date;
}

/**
 * Every event up to R is on Kafka: no outbox row at or below R is unpublished (rows that retention
 * deleted were published). Revisions become visible in commit order (G2), so no row at or below a
 * visible R can still appear.
 */
export function isPublished(revision: number, store: Pick<StoreFacts, 'current' | 'firstUnpublished'>): boolean {
  return revision <= store.current && (store.firstUnpublished === null || store.firstUnpublished > revision);
}

/**
 * The worker has applied every event of `position`: on each partition the group's committed offset
 * (the next it will read: everything below it was applied before it was committed) is above the
 * position's. A partition without a committed offset (none, or -1) has applied nothing there.
 */
export function offsetsApplied(position: Offsets, committed: Offsets): boolean {
  for (const [partition, offset] of position) {
    const next = committed.get(partition);
    if (next === undefined || next <= offset) return false;
  }
  return true;
}

/**
 * The status of R. In sync only when all three hold: published (from the outbox), cache applied
 * (the relay recorded a position for R, which it does only once every row up to R is published,
 * and the worker's committed offsets are past it), and every live resolver replica's feed holds R.
 * Whatever did not answer counts against: Kafka down, cacheApplied is false. Redis down is the one
 * exception the contract implies: no replica is known, so none is listed and none holds R back.
 */
export function decideStatus(facts: PropagationFacts): PropagationStatus {
  const { revision, store } = facts;
  const published = isPublished(revision, store);
  const cacheApplied = published && store.position !== undefined && facts.committed !== undefined && offsetsApplied(store.position, facts.committed);
  const resolvers: ResolverFeed[] = (facts.feeds?.reports ?? []).map((r) => ({
    replica: r.replica,
    feedRevision: r.feedRevision,
    seenAt: new Date(r.seenAt).toISOString(),
    live: (facts.feeds?.now ?? 0) - r.seenAt <= facts.replicaTimeoutMs,
  }));
  const feedsHold = resolvers.every((r) => !r.live || r.feedRevision >= revision);
  return {
    revision,
    committedAt: store.committedAt ? store.committedAt.toISOString() : null,
    status: published && cacheApplied && feedsHold ? 'in-sync' : 'pending',
    published,
    cacheApplied,
    resolvers,
    checkedAt: facts.checkedAt.toISOString(),
  };
}
