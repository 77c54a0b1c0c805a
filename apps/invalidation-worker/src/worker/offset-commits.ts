import type { PartitionOffset } from '@tm/messaging';

export type CommitOffsets = (offsets: PartitionOffset[]) => Promise<void>;

/**
 * Offsets of applied batches, committed at most once every `intervalMs` and always within it, also
 * when no further batch comes (the consumer commits nothing by itself, only what it is told to).
 * Commits run one at a time, so a later offset is never overwritten by an earlier one.
 */
export class OffsetCommits {
  private readonly pending = new Map<string, PartitionOffset>();
  private timer: NodeJS.Timeout | undefined;
  private lastCommit = 0;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly commit: CommitOffsets,
    private readonly onError: (e: unknown) => void,
  ) {}

  /** Records an applied partition offset; committed by the timer within the interval. */
  add(offset: PartitionOffset): void {
    this.pending.set(`${offset.topic}/${offset.partition}`, offset);
    if (!this.timer && !this.stopped) this.schedule(this.lastCommit + this.intervalMs - Date.now());
  }

  /** Commits what is pending now (through `commit`, by default the one given at construction). */
  flush(commit: CommitOffsets = this.commit): Promise<void> {
    const run = this.queue.then(() => this.commitPending(commit));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Forgets what is pending: after a rebalance the group redelivers from the committed offsets. */
  clear(): void {
    this.pending.clear();
  }

  /** No more timed commits (shutdown, after the last flush). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        // From now: an offset added while this commit is on its way waits for the next interval.
        this.lastCommit = Date.now();
        this.flush().catch((e: unknown) => {
          this.onError(e);
          if (this.pending.size > 0 && !this.timer && !this.stopped) this.schedule(this.intervalMs);
        });
      },
      Math.max(0, ms),
    );
  }

  private async commitPending(commit: CommitOffsets): Promise<void> {
    const offsets = [...this.pending.values()];
    if (offsets.length === 0) return;
    this.lastCommit = Date.now();
    await commit(offsets);
    for (const o of offsets) {
      const key = `${o.topic}/${o.partition}`;
      if (this.pending.get(key) === o) this.pending.delete(key);
    }
  }
}
