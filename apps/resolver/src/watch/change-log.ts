/** One change as the watch sends it: parsed once, rendered once, shared by every stream. */
export interface LoggedChange {
  revision: number;
  tenant: string;
  /** The id of the tenant it belongs to (null: an event written before events carried it). */
  tenantId: string | null;
  service: string;
  /** The SSE frame: `event: put|delete`, `id: <revision>`, `data: <CloudEvent>`. */
  frame: string;
  /** The same frame without its `id` line (see bareFrame), made the first time a stream needs it. */
  bare?: string;
  /** When it entered the log (local monotonic ms). */
  at: number;
}

/**
 * A change's frame without its `id` line: every frame of a revision but the last a stream is sent of
 * it (docs/guarantees.md, "Watch", Order), so a client cut inside a revision resumes before it.
 */
export function bareFrame(change: LoggedChange): string {
  if (change.bare === undefined) {
    const idLine = `id: ${change.revision}\n`;
    const at = change.frame.indexOf(idLine);
    change.bare = at < 0 ? change.frame : change.frame.slice(0, at) + change.frame.slice(at + idLine.length);
  }
  return change.bare;
}

/** `items` (in revision order) cut into runs of one revision each: a change set's changes together. */
export function revisionsOf<T extends { revision: number }>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  let run: T[] | undefined;
  for (const item of items) {
    if (run !== undefined && (run[0] as T).revision === item.revision) run.push(item);
    else out.push((run = [item]));
  }
  return out;
}

/**
 * The replica's memory of recent changes, in revision order with no revision missing, whole revisions
 * only (a change set's revision holds one change per route it changed): a resume from any revision it
 * covers is served without PostgreSQL. It keeps at least `minEntries` changes and every change of the
 * last `minAgeMs`, and at most `maxEntries` (older resumes read the outbox), dropping whole revisions
 * (so it may keep a revision's worth more).
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

  /** Appends the next revision whole: every change of it (at least one), at `last + 1`. */
  append(revision: readonly LoggedChange[]): void {
    const next = this.last + 1;
    if (revision.length === 0) throw new Error(`revision ${next} has no change`);
    for (const change of revision) if (change.revision !== next) throw new Error(`change ${change.revision} does not follow ${this.last}`);
    for (const change of revision) this.entries.push(change);
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
    // The first entry above `after` (a revision may hold many entries).
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.entries[mid] as LoggedChange).revision <= after) lo = mid + 1;
      else hi = mid;
    }
    return lo >= this.entries.length ? [] : this.entries.slice(lo);
  }

  /** Drops what is both beyond the kept count and older than the kept age (or beyond the most kept), whole revisions only. */
  trim(now: number): void {
    let drop = 0;
    const size = this.size;
    while (drop < size - this.minEntries) {
      const entry = this.entries[this.head + drop] as LoggedChange;
      if (size - drop <= this.maxEntries && now - entry.at < this.minAgeMs) break;
      drop++;
    }
    // Never part of a revision: keep the whole revision the cut fell inside.
    while (drop > 0 && drop < size && (this.entries[this.head + drop] as LoggedChange).revision === (this.entries[this.head + drop - 1] as LoggedChange).revision) drop--;
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
