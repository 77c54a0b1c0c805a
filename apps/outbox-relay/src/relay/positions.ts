import { Logger } from '@nestjs/common';
import { TopicAdmin, type DeliveredAt, type KafkaClient } from '@tm/messaging';
import { offsetsJson, type PartitionOffsets } from '@tm/propagation';
import type { RunQuery } from './outbox-store';

/** An event the relay sent, and where Kafka wrote it. */
export interface SentEvent {
  revision: number;
  partition: number;
  offset: bigint;
}

function merged(into: Map<number, bigint>, partition: number, offset: bigint): void {
  const known = into.get(partition);
  if (known === undefined || offset > known) into.set(partition, offset);
}

/**
 * What the leading relay knows of where the events are on Kafka, to record positions
 * (docs/guarantees.md, "Propagation"). Pure: RelayPositions reads and writes for it.
 *
 * A position of revision R maps each partition to an offset at or above the highest offset any
 * event up to R was written at. Every number here is an upper bound of that kind, never a guess
 * below it: an offset the relay cannot attribute (a new lead, a send whose offsets it could not
 * tell, a batch whose mark may or may not have committed) is covered by a baseline, the partitions'
 * high watermarks read after the send (everything ever written is below them). A bound that is too
 * high only makes "applied" wait for more; one too low could say it early, and there is none.
 */
export class PositionTracker {
  /** Offsets covering every event up to `recorded` (and every event before the baseline); undefined until a baseline. */
  private base: Map<number, bigint> | undefined;
  /** Events sent since, that the base may not cover. */
  private pending: SentEvent[] = [];
  /** The last revision recorded in this lead (0: none yet). */
  recorded = 0;

  /** A new lead, or a batch whose outcome is unknown: nothing is known until the next baseline. */
  reset(): void {
    this.base = undefined;
    this.pending = [];
    this.recorded = 0;
  }

  /** The highest revision of the events the base may not cover; undefined: the base covers every event sent. */
  get lastPending(): number | undefined {
    return this.pending.length === 0 ? undefined : Math.max(...this.pending.map((e) => e.revision));
  }

  get needsBaseline(): boolean {
    return this.base === undefined;
  }

  /**
   * The partitions' high watermarks (the next offset each will write), read after everything the
   * relay has sent so far: every event ever written is below them.
   */
  baseline(highWatermarks: PartitionOffsets): void {
    const base = new Map(this.base ?? []);
    for (const [partition, high] of highWatermarks) if (high > 0n) merged(base, partition, high - 1n);
    this.base = base;
  }

  /** A batch was acknowledged (and marked) at these places; undefined: Kafka did not say where, so a baseline is needed. */
  sent(revisions: readonly number[], delivered: readonly DeliveredAt[] | undefined): void {
    if (delivered === undefined || delivered.length !== revisions.length) {
      // The baseline read after this send covers it and everything pending.
      this.base = undefined;
      this.pending = [];
      return;
    }
    revisions.forEach((revision, i) => {
      const at = delivered[i] as DeliveredAt;
      this.pending.push({ revision, partition: at.partition, offset: at.offset });
    });
  }

  /** Offsets covering every event up to `revision` (undefined without a baseline). */
  through(revision: number): PartitionOffsets | undefined {
    if (!this.base) return undefined;
    const out = new Map(this.base);
    for (const e of this.pending) if (e.revision <= revision) merged(out, e.partition, e.offset);
    return out;
  }

  /** `offsets` (from `through`) was recorded as the position of `revision`. */
  recordedAt(revision: number, offsets: PartitionOffsets): void {
    this.base = new Map(offsets);
    this.pending = this.pending.filter((e) => e.revision > revision);
    this.recorded = revision;
  }
}

/** Positions recorded at least this recently are kept (the newest always is). */
const KEEP_POSITIONS_MS = 10 * 60_000;
const PRUNE_EVERY_MS = 60_000;

/**
 * Records the relay's positions in relay_positions after each marked batch: for the last revision C
 * whose outbox rows are all published (a batch may end inside a revision: its last revision then
 * counts only once the rest is published), the offsets covering every event up to C. Written by its
 * own statement right after the mark, never before it; the statement decides C from the outbox
 * itself (no unpublished row at or below C), so a position never names a revision with an event
 * not yet on Kafka. A failure is logged and tried again on the next batch or idle poll; it never
 * holds back publishing (the status then waits, it is never early).
 */
export class RelayPositions {
  private readonly logger = new Logger('RelayPositions');
  readonly tracker = new PositionTracker();
  private dirty = false;
  private failing = false;
  private admin: TopicAdmin | undefined;
  private lastPrune = 0;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly topic: string,
    private readonly onError: () => void,
  ) {}

  /** A new lead, or a failure after which the relay reads from the start again. */
  reset(): void {
    this.tracker.reset();
    // What the last lead (or the failed batch) published may have no position yet: record one
    // from a baseline, even if nothing more is published.
    this.dirty = true;
  }

  /** After a batch was marked published: records the position it completes. */
  async marked(revisions: readonly number[], delivered: DeliveredAt[] | undefined, run: RunQuery): Promise<void> {
    this.tracker.sent(revisions, delivered);
    this.dirty = true;
    await this.record(run);
  }

  /** When idle: records what a failed attempt left unrecorded. */
  async idle(run: RunQuery): Promise<void> {
    if (this.dirty) await this.record(run);
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect().catch(() => undefined);
  }

  private async record(run: RunQuery): Promise<void> {
    try {
      if (this.tracker.needsBaseline) this.tracker.baseline(await this.highWatermarks());
      // The last revision sent whose offsets are pending; none: the base covers every event
      // published so far, and the outbox's newest revision is the candidate.
      const last = this.tracker.lastPending;
      const upToLast = this.tracker.through(last ?? Number.MAX_SAFE_INTEGER);
      const beforeLast = this.tracker.through(last === undefined ? Number.MAX_SAFE_INTEGER : last - 1);
      if (!upToLast || !beforeLast) return;
      // C: the last revision (at most the candidate) with no unpublished row at or below it. Below
      // the candidate, every complete revision is covered by `beforeLast` (which may cover more).
      const rows = (await run(
        `WITH last AS (SELECT COALESCE($1::bigint, (SELECT max(revision) FROM outbox), 0) AS r),
         complete AS (
           SELECT LEAST(last.r, COALESCE((SELECT min(revision) FROM outbox WHERE published_at IS NULL) - 1, last.r)) AS revision, last.r FROM last)
         INSERT INTO relay_positions (revision, offsets)
         SELECT revision, CASE WHEN revision >= r THEN $2::jsonb ELSE $3::jsonb END FROM complete WHERE revision > $4::bigint
         ON CONFLICT (revision) DO UPDATE SET offsets = EXCLUDED.offsets, recorded_at = now()
         RETURNING revision::text AS revision, (revision >= (SELECT r FROM last)) AS whole`,
        [last ?? null, offsetsJson(upToLast), offsetsJson(beforeLast), this.tracker.recorded],
      )) as { revision: string; whole: boolean }[];
      const recorded = rows[0] ? Number(rows[0].revision) : undefined;
      if (recorded !== undefined) this.tracker.recordedAt(recorded, rows[0]?.whole ? upToLast : beforeLast);
      this.dirty = false;
      if (this.failing) this.logger.log('recording positions again');
      this.failing = false;
      if (recorded !== undefined && Date.now() - this.lastPrune >= PRUNE_EVERY_MS) {
        this.lastPrune = Date.now();
        await run(`DELETE FROM relay_positions WHERE revision < $1 AND recorded_at < now() - make_interval(secs => $2)`, [recorded, KEEP_POSITIONS_MS / 1000]);
      }
    } catch (e) {
      this.onError();
      if (!this.failing) this.logger.warn(`recording a position failed (propagation status waits; tried again): ${e instanceof Error ? e.message : String(e)}`);
      this.failing = true;
    }
  }

  private async highWatermarks(): Promise<Map<number, bigint>> {
    this.admin ??= new TopicAdmin(this.kafka);
    try {
      await this.admin.connect();
      const bounds = await this.admin.partitionBounds(this.topic);
      return new Map(bounds.map((b) => [b.partition, BigInt(b.high)]));
    } catch (e) {
      await this.close();
      throw e;
    }
  }
}
