/** What the replicas share: each second's count per key id, added to by every replica. */
export interface SharedCounts {
  /**
   * Adds each key's `added` requests to second `window`'s shared counts and answers every given
   * key's total across the replicas (this one's included). One round trip.
   */
  add(window: number, added: ReadonlyMap<string, number>): Promise<ReadonlyMap<string, number>>;
}

/** One key's count in the current second on this replica. */
interface Slot {
  window: number;
  /** Requests this replica admitted in the window. */
  local: number;
  /** Of those, not yet added to the shared counts. */
  unsent: number;
  /** Of those, added to the shared counts (by syncs that answered). */
  sent: number;
  /** The other replicas' requests in the window, as the last sync read them. */
  others: number;
}

/** The window of the request: a second since the epoch. */
export function windowOf(ms: number): number {
  return Math.floor(ms / 1000);
}

/**
 * Requests per key per second (fixed one-second windows), counted on this replica and reconciled
 * with the other replicas off the request path (docs/guarantees.md, "Tenancy limits").
 *
 * `take` is the request path: a clock read, one Map lookup, a comparison and two increments; no
 * I/O. `sync` (every 100 ms, from a timer) adds what this replica admitted since the last sync to
 * the shared counts and reads back each key's total, so a key is limited across the replicas to
 * its limit plus what the others admit within one sync interval. When a sync fails (Redis down),
 * each replica goes on with its own count and the last totals it read for the current second.
 */
export class RateLimiter {
  private readonly slots = new Map<string, Slot>();
  private syncing: Promise<void> | undefined;

  constructor(
    /** Requests per key per second (RATE_LIMIT_PER_KEY). */
    readonly limit: number,
    private readonly shared: SharedCounts | undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Counts a request of `keyId` and answers true, or answers false (not counted) when the key is at its limit this second. */
  take(keyId: string): boolean {
    const window = windowOf(this.clock());
    let slot = this.slots.get(keyId);
    if (slot === undefined) {
      slot = { window, local: 0, unsent: 0, sent: 0, others: 0 };
      this.slots.set(keyId, slot);
    } else if (slot.window !== window) {
      slot.window = window;
      slot.local = slot.unsent = slot.sent = slot.others = 0;
    }
    if (slot.local + slot.others >= this.limit) return false;
    slot.local++;
    slot.unsent++;
    return true;
  }

  /** Requests `keyId` may still make this second, as far as this replica knows. */
  remaining(keyId: string): number {
    const slot = this.slots.get(keyId);
    if (slot === undefined || slot.window !== windowOf(this.clock())) return this.limit;
    return Math.max(0, this.limit - slot.local - slot.others);
  }

  /** Whole seconds until the current window ends (at least 1): when a refused key may try again. */
  secondsToReset(): number {
    return Math.max(1, Math.ceil((1000 - (this.clock() % 1000)) / 1000));
  }

  /**
   * Reconciles with the other replicas once (one round trip for every key seen this second). A sync
   * under way is joined, not doubled. Keys of a past second are forgotten. Rejects when the shared
   * counts do not answer; the counts not added then are added by the next sync.
   */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const window = windowOf(this.clock());
    const batch: { keyId: string; slot: Slot; n: number }[] = [];
    const added = new Map<string, number>();
    for (const [keyId, slot] of this.slots) {
      if (slot.window !== window) {
        this.slots.delete(keyId);
        continue;
      }
      batch.push({ keyId, slot, n: slot.unsent });
      added.set(keyId, slot.unsent);
      slot.sent += slot.unsent;
      slot.unsent = 0;
    }
    if (this.shared === undefined || added.size === 0) return;
    let totals: ReadonlyMap<string, number>;
    try {
      totals = await this.shared.add(window, added);
    } catch (e) {
      // Not counted there (or not known to be): sent again next time, while the window lasts.
      for (const { slot, n } of batch) {
        if (slot.window !== window) continue;
        slot.sent -= n;
        slot.unsent += n;
      }
      throw e;
    }
    for (const { keyId, slot } of batch) {
      const total = totals.get(keyId);
      // A slot that moved on to the next second while the sync was under way starts afresh.
      if (total !== undefined && slot.window === window) slot.others = Math.max(0, total - slot.sent);
    }
  }
}
