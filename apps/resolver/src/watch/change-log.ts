/** One change as the watch sends it: parsed once, rendered once, shared by every stream. */
export interface LoggedChange {
  revision: number;
  tenant: string;
  /** The id of the tenant it belongs to (null: an event written before events carried it). */
  tenantId: string | null;
  service: string;
  /** The SSE frame: `event: put|delete`, `id: <revision>`, `data: <CloudEvent>`. */
  frame: string;
  /** When it entered the log (local monotonic ms). */
  at: number;
}

/**
 * The replica's memory of recent changes, in revision order with no gap: a resume from any revision
 * it covers is served without PostgreSQL. It keeps at least `minEntries` changes and every change of
 * the last `minAgeMs`, and at most `maxEntries` (older resumes read the outbox).
 */
export class ChangeLog {
  private entries: LoggedChange[] = [];
  /** Index of the oldest entry kept (entries before it are dropped in batches). */
  private head = 0;
  /** Every change with revision <= `floor` is outside the log; every one above it, up to `last`, inside. */
  private floorRevision: number;

  constructor(
    start: number,
    private readonly minEntries: number,
    private readonly minAgeMs: number,
    private readonly maxEntries: number,
  ) {
    this.floorRevision = start;
  }

  /** The revision the log starts after: it holds every change in (floor, last]. */
  get floor(): number {
    return this.floorRevision;
  }

  /** The newest revision the log holds (its floor when empty). */
  get last(): number {
    const n = this.entries.length;
    return n > this.head ? (this.entries[n - 1] as LoggedChange).revision : this.floorRevision;
  }

  get size(): number {
    return this.entries.length - this.head;
  }

  /** Appends the next change; it must be `last + 1`. */
  append(change: LoggedChange): void {
    if (change.revision !== this.last + 1) throw new Error(`change ${change.revision} does not follow ${this.last}`);
    this.entries.push(change);
  }

  /** Forgets everything and starts again after `revision` (the feed found a gap it cannot bridge). */
  reset(revision: number): void {
    this.entries = [];
    this.head = 0;
    this.floorRevision = revision;
  }

  /** The changes with revision in (after, last], or undefined when `after` is below the floor. */
  after(after: number): LoggedChange[] | undefined {
    if (after < this.floorRevision) return undefined;
    const from = this.head + (after - this.floorRevision);
    return from >= this.entries.length ? [] : this.entries.slice(from);
  }

  /** Drops what is both beyond the kept count and older than the kept age (or beyond the most kept). */
  trim(now: number): void {
    let drop = 0;
    const size = this.size;
    while (drop < size - this.minEntries) {
      const entry = this.entries[this.head + drop] as LoggedChange;
      if (size - drop <= this.maxEntries && now - entry.at < this.minAgeMs) break;
      drop++;
    }
    if (drop === 0) return;
    this.floorRevision = (this.entries[this.head + drop - 1] as LoggedChange).revision;
    this.head += drop;
    // Compact once the dropped prefix is as large as what is kept.
    if (this.head > 1024 && this.head >= this.size) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
