/**
 * When the feed first proved a revision above another (on the resolver's monotonic clock): the sweep
 * sends a stream behind the latest proof its bookmark by the time the contract's 200 ms, counted from
 * that moment, runs out, rather than at every sweep. Kept for `keepMs`; a revision passed before
 * that counts as passed long ago.
 */
export class FeedPasses {
  private readonly revisions: number[] = [];
  private readonly times: number[] = [];
  /** Entries before this index are dropped (shifted out in batches). */
  private start = 0;
  /** The highest revision dropped: a revision below it was passed before what is kept. */
  private dropped = Number.NEGATIVE_INFINITY;
  /** One-entry memo: the streams bookmarked together share their last revision. */
  private memo: { revision: number; at: number | undefined } | undefined;

  constructor(private readonly keepMs: number) {}

  /** The feed proved `revision` at `now`; only a revision above the last recorded one is a pass. */
  record(revision: number, now: number): void {
    const last = this.revisions.length > this.start ? this.revisions[this.revisions.length - 1] : undefined;
    if (last !== undefined && revision <= last) return;
    this.revisions.push(revision);
    this.times.push(now);
    this.memo = undefined;
    while (this.start < this.times.length - 1 && now - (this.times[this.start] ?? now) > this.keepMs) {
      this.dropped = this.revisions[this.start] ?? this.dropped;
      this.start++;
    }
    if (this.start > 1_024 && this.start * 2 > this.times.length) {
      this.revisions.splice(0, this.start);
      this.times.splice(0, this.start);
      this.start = 0;
    }
  }

  /**
   * When the feed first proved a revision above `revision`: undefined if it has not, -Infinity if it
   * did so before what is kept.
   */
  passedAbove(revision: number): number | undefined {
    if (this.memo?.revision === revision) return this.memo.at;
    const at = this.find(revision);
    this.memo = { revision, at };
    return at;
  }

  private find(revision: number): number | undefined {
    if (revision < this.dropped) return Number.NEGATIVE_INFINITY;
    let lo = this.start;
    let hi = this.revisions.length;
    // The first kept entry whose revision is above `revision`.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.revisions[mid] ?? 0) > revision) hi = mid;
      else lo = mid + 1;
    }
    return lo < this.revisions.length ? this.times[lo] : undefined;
  }
}
