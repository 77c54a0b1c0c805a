import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATABASE_TIME_MS, ReadReplicas, type Query, type ReplicaState } from '@tm/persistence';
import { postgresUrlList } from '@tm/platform';
import { ResolverConfig } from '../config';
import { DatabaseClock, LOCAL_CLOCK, type LocalClock } from './database-clock';
import { ResolverMetrics } from './resolver.metrics';

/** The kinds of read the read tier routes (a metrics label). */
export type TierRead = 'miss' | 'strong' | 'snapshot' | 'history';

/**
 * The primary's revision as of a moment of its clock: `revision` was the store's revision at
 * `knownCurrentAt` (the primary's statement time: every write committed before it is <= revision).
 * `establishedAt` is when the statement was sent, on this process's monotonic clock.
 */
export interface PrimaryProof {
  revision: number;
  knownCurrentAt: number;
  establishedAt: number;
}

/** What a routed read gives: the value, whether a replica served it, and the time it is known current from. */
export interface TierAnswer<T> {
  value: T;
  target: 'primary' | 'replica';
  /** Set when a replica served it: the primary's proof its snapshot covers (its knownCurrentAt is the answer's). */
  proof?: PrimaryProof;
}

/** How often each replica's state and replayed revision are checked. */
const CHECK_MS = 500;
/**
 * A default miss or a snapshot takes the feed's latest proof when it is at most this old (the feed
 * proves at every commit notification and at least every WATCH_FEED_POLL_MS); older, it reads the
 * primary's revision (one small statement shared by every read waiting for it).
 */
const PROOF_MAX_AGE_MS = 1_500;

/**
 * The read tier's routing between the primary and its streaming replicas (DATABASE_READ_URL;
 * docs/operations.md, "Read replicas"). Every revision a read needs is the primary's, never a
 * replica's own, so G3, G5, bookmarks and the 412 "beyond the store" rest on the primary's truth:
 *
 * - A miss (default, X-Min-Revision or strong) needs the primary's revision R read at a time T of
 *   the primary's clock by a statement sent after the miss's read began, that is after its fill's
 *   lease was taken: a read index, one small statement shared by every read waiting for it (or the
 *   watch feed's proof when it is that recent), instead of each route read on the primary. A replica
 *   snapshot as of >= R reflects every write committed before T: it is known current at T, so the
 *   cache entry's knownAt is T (G3), never the replica's clock. And it reflects every write whose
 *   event the cache could have applied before the lease, as a primary read would: a fill from a
 *   replica lands only where one from the primary would (G6, even when Redis lost the fence).
 *   Because R is read after the request arrived, a strong read reflects every write answered before
 *   it. X-Min-Revision N raises the need to max(N, R); a replica behind it means the primary serves
 *   the read and judges the 412, never a lagging replica.
 * - A watch snapshot needs a recent proof (the feed's latest, at most PROOF_MAX_AGE_MS old, else a
 *   read index): its revision S >= R is the replica's, its bookmark's knownCurrentAt is T.
 * - A resume from before memory reads outbox pages from a replica that has the next row; the rows are
 *   the primary's, in order, and the stream joins memory only where the page ends (no gap).
 *
 * Without DATABASE_READ_URL every read goes to the primary, exactly as before.
 */
@Injectable()
export class ReadTier implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('ReadTier');
  private readonly replicas: ReadReplicas | undefined;
  private readonly states = new Map<string, ReplicaState>();
  private latest: PrimaryProof | undefined;
  /** The primary-revision read in flight, and the one queued after it (shared by every caller that arrived before it is sent). */
  private running: Promise<PrimaryProof> | undefined;
  private queued: Promise<PrimaryProof> | undefined;

  constructor(
    config: ResolverConfig,
    private readonly dataSource: DataSource,
    private readonly metrics: ResolverMetrics,
    private readonly clock: DatabaseClock,
    @Inject(LOCAL_CLOCK) private readonly local: LocalClock,
  ) {
    const urls = config.DATABASE_READ_URL === undefined ? undefined : postgresUrlList(config.DATABASE_READ_URL);
    if (urls) {
      this.replicas = new ReadReplicas(
        { urls, poolSize: config.DATABASE_READ_POOL_SIZE, timeoutMs: config.DATABASE_READ_TIMEOUT_MS, checkMs: CHECK_MS, applicationName: 'resolver-read' },
        {
          skipped: (reason, replica) => this.metrics.replicaSkips.inc({ reason, replica }),
          checked: (replica, state, revision) => this.checked(replica, state, revision),
        },
      );
    }
  }

  /** Whether replicas are configured. */
  get enabled(): boolean {
    return this.replicas !== undefined;
  }

  onModuleInit(): void {
    this.replicas?.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.replicas?.stop();
  }

  /** Checks every replica now (tests: a stopped or paused replica is known as such). */
  async checkReplicas(): Promise<void> {
    await this.replicas?.checkAll();
  }

  /** The watch feed proved the primary's revision at a time (free proofs for default misses and snapshots). */
  observe(proof: PrimaryProof): void {
    if (!this.latest || proof.knownCurrentAt >= this.latest.knownCurrentAt) this.latest = proof;
  }

  /**
   * Reads from a replica whose snapshot covers the primary's revision as of a proof and
   * `minRevision` (when given), else from the primary (`primary`). The proof: with `after` (a time of
   * this process's monotonic clock), one established after it (the feed's latest if it is, else a
   * read of the primary's revision sent after now); without, a recent one. `revisionOf` gives the
   * revision a replica's snapshot reflects. A replica's answer carries the proof: it is known current
   * at the proof's knownCurrentAt.
   */
  async read<T>(
    kind: TierRead,
    options: { minRevision?: number; after?: number },
    replicaRead: (query: Query) => Promise<T>,
    revisionOf: (value: T) => number,
    primary: () => Promise<T>,
  ): Promise<TierAnswer<T>> {
    if (this.replicas) {
      // A primary that cannot be asked for its revision: the primary read below says how it fails.
      const proof = await (options.after === undefined ? this.recentProof() : this.proofAfter(options.after)).catch(() => undefined);
      if (proof) {
        const need = Math.max(proof.revision, options.minRevision ?? 0);
        const answer = await this.replicas.read(need, replicaRead, revisionOf);
        if (answer) {
          this.metrics.readsByTarget.inc({ read: kind, target: 'replica' });
          return { value: answer.value, target: 'replica', proof };
        }
      }
    }
    const value = await primary();
    this.metrics.readsByTarget.inc({ read: kind, target: 'primary' });
    return { value, target: 'primary' };
  }

  /**
   * The outbox after `after` from a replica, when it has the next row (a resume from before memory
   * needs no more: the rows it has are the primary's, and the stream goes on from where they end);
   * else from the primary.
   */
  async history<T extends { changes: { revision: number }[] }>(after: number, replicaRead: (query: Query) => Promise<T>, primary: () => Promise<T>): Promise<T> {
    if (this.replicas) {
      const answer = await this.replicas.read(after + 1, replicaRead, (page) => (page.changes[0]?.revision === after + 1 ? after + 1 : after));
      if (answer) {
        this.metrics.readsByTarget.inc({ read: 'history', target: 'replica' });
        return answer.value;
      }
    }
    const value = await primary();
    this.metrics.readsByTarget.inc({ read: 'history', target: 'primary' });
    return value;
  }

  /** A proof established at or after `after` (this process's monotonic clock). */
  private proofAfter(after: number): Promise<PrimaryProof> {
    const latest = this.latest;
    if (latest && latest.establishedAt >= after) return Promise.resolve(latest);
    return this.primaryRevisionAfterNow();
  }

  /** The feed's latest proof when recent enough, else a read of the primary's revision. */
  private recentProof(): Promise<PrimaryProof> {
    const latest = this.latest;
    if (latest && this.local() - latest.establishedAt <= PROOF_MAX_AGE_MS) return Promise.resolve(latest);
    return this.primaryRevisionAfterNow();
  }

  /**
   * The primary's revision read by a statement sent after this call (a read index): callers that
   * arrive while one is in flight share the next, which is sent when that one ends.
   */
  primaryRevisionAfterNow(): Promise<PrimaryProof> {
    if (this.queued) return this.queued;
    const previous = this.running;
    const next = (async () => {
      await previous?.catch(() => undefined);
      this.queued = undefined;
      const reading = this.readPrimaryRevision();
      this.running = reading;
      try {
        return await reading;
      } finally {
        if (this.running === reading) this.running = undefined;
      }
    })();
    if (previous) this.queued = next;
    else this.running = next;
    return next;
  }

  private async readPrimaryRevision(): Promise<PrimaryProof> {
    this.metrics.primaryRevisionReads.inc();
    const establishedAt = this.local();
    const rows = await this.dataSource.query<{ revision: string; t: number }[]>(`SELECT revision, ${DATABASE_TIME_MS} AS t FROM store_revision WHERE id = 1`);
    const row = rows[0];
    if (!row) throw new Error('the revision clock is missing: has the database been migrated?');
    const proof = { revision: Number(row.revision), knownCurrentAt: Number(row.t), establishedAt };
    this.clock.sample(establishedAt, proof.knownCurrentAt);
    this.observe(proof);
    return proof;
  }

  private checked(replica: string, state: ReplicaState, revision: number | undefined): void {
    this.metrics.replicaUp.set({ replica }, state === 'up' ? 1 : 0);
    if (revision !== undefined) this.metrics.replicaRevision.set({ replica }, revision);
    const before = this.states.get(replica);
    if (before === state) return;
    this.states.set(replica, state);
    if (state === 'up') this.logger.log(`read replica ${replica}: serving reads`);
    else this.logger.warn(`read replica ${replica}: ${state}; the primary serves the reads it would have served`);
  }
}
