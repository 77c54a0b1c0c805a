import type { ServerResponse } from 'node:http';
import { WatchEvents, type WatchBookmark } from '@tm/contracts';
import { bareFrame, type LoggedChange } from './change-log';
import type { StreamTicket } from './stream-limits';

/**
 * What the feed has proved: every change up to `revision` has been fanned out, and `revision` was the
 * store's revision at `knownCurrentAt` (the database's clock, ms), established no later than
 * `establishedAt` on this process's monotonic clock (the read was sent then).
 */
export interface Proof {
  revision: number;
  knownCurrentAt: number;
  establishedAt: number;
}

/**
 * Why a stream ended: the client left; `slow`: too many unread events, or congested past
 * WATCH_MAX_CONGESTED_MS; `shutdown`; `gap`: changes that can no longer be sent; `error`; `health-gap`:
 * health events may have been missed; `revoked`: its key was revoked or deleted (its tenant too);
 * `tenant-gone`: its tenant was deleted and the slug taken by a new tenant.
 */
export type CloseReason = 'client' | 'slow' | 'shutdown' | 'gap' | 'error' | 'health-gap' | 'revoked' | 'tenant-gone';

/** What a stream is for and whose it is. */
export interface StreamOptions {
  /** null: every tenant the key may read (an unbound key on /v1/watch). */
  tenant: string | null;
  /**
   * The id of the tenant whose changes it is sent, when known (a tenant-bound key's, or learnt from the
   * first change): a change of the same slug under another id is a new tenant's, never sent to it.
   */
  tenantId: string | null;
  service: string | null;
  /** ?health=true: health events too. */
  health: boolean;
  /** The stored key it was opened with (null: TM_ADMIN_TOKEN): revoking the key ends the stream. */
  keyId: string | null;
  /** Events a client that does not read may have queued before it is cut. */
  maxBuffered: number;
  /** Monotonic ms (the resolver's local clock). */
  clock: () => number;
  /** Its place among the replica's streams, given back when it closes. */
  ticket: StreamTicket;
}

/** The last bookmark frame made: a sweep or a delivery gives every stream the same one (same proof, same moment). */
let lastFrame: { proof: Proof; now: number; snapshot: boolean; frame: string } | undefined;

/** An SSE frame for a bookmark (made once for the streams that are sent it at one moment). */
export function bookmarkFrame(proof: Proof, now: number, snapshot: boolean): string {
  if (lastFrame !== undefined && lastFrame.proof === proof && lastFrame.now === now && lastFrame.snapshot === snapshot) return lastFrame.frame;
  const frame = makeBookmarkFrame(proof, now, snapshot);
  lastFrame = { proof, now, snapshot, frame };
  return frame;
}

function makeBookmarkFrame(proof: Proof, now: number, snapshot: boolean): string {
  const bookmark: WatchBookmark = {
    revision: proof.revision,
    knownCurrentAt: new Date(proof.knownCurrentAt).toISOString(),
    ageMs: Math.max(0, Math.round(now - proof.establishedAt)),
    snapshot,
  };
  return `event: ${WatchEvents.bookmark}\nid: ${proof.revision}\ndata: ${JSON.stringify(bookmark)}\n\n`;
}

/**
 * One watch stream: a filter (a tenant, or every tenant; a service or all), the position it has been
 * sent up to, and the response it writes to. Writes never wait: a client that stops reading has its
 * events queued until `maxBuffered` are, or until it has been congested for WATCH_MAX_CONGESTED_MS
 * (the service's sweep), then it is cut (it resumes from its last id). Bookmarks are never queued.
 */
export class WatchStream {
  /** Every matching change up to this revision has been sent (or was in the snapshot): the feed skips them. */
  covered = 0;
  /** The highest `id` written (an event's or a bookmark's): a bookmark never goes below it. */
  lastId = -1;
  /** The revision of the last bookmark, and when it was sent (monotonic ms). */
  lastBookmark = -1;
  lastBookmarkAt = 0;
  /** The proof the last bookmark carried: a heartbeat carries a newer one, or none is sent. */
  private lastProof: Proof | undefined;
  /** Fed by the feed (after its catch-up) rather than catching up from history. */
  live = false;
  readonly tenant: string | null;
  tenantId: string | null;
  readonly service: string | null;
  readonly health: boolean;
  readonly keyId: string | null;
  /**
   * Since when (monotonic ms) the client has not taken what was written (the response's buffer is over
   * its mark and has not drained); undefined while writes go through. Bookmarks are skipped meanwhile,
   * so one is never queued (its ageMs is taken when it is written), and past WATCH_MAX_CONGESTED_MS the
   * stream is cut.
   */
  congestedSince: number | undefined;
  private queued = 0;
  private ended = false;
  private corked = false;

  constructor(
    private readonly response: ServerResponse,
    private readonly options: StreamOptions,
    private readonly onClose: (stream: WatchStream, reason: CloseReason) => void,
  ) {
    this.tenant = options.tenant;
    this.tenantId = options.tenantId;
    this.service = options.service;
    this.health = options.health;
    this.keyId = options.keyId;
    response.on('drain', () => {
      this.congestedSince = undefined;
      this.queued = 0;
    });
    response.on('close', () => this.close('client'));
  }

  get closed(): boolean {
    return this.ended;
  }

  matches(change: { tenant: string; service: string }): boolean {
    return (this.tenant === null || change.tenant === this.tenant) && (this.service === null || change.service === this.service);
  }

  /** Writes one change (a revision of one route): see offerRevision. True if written. */
  offer(change: LoggedChange, cork = false): boolean {
    return this.offerRevision([change], cork) > 0;
  }

  /**
   * Writes the stream's share of one revision (`changes`: every change of it, in route key order) if
   * it has not been sent it: the changes it cares about, together, with the `id: R` line on the last
   * of them only (docs/guarantees.md, "Watch", Order: a client cut inside them resumes before R and
   * gets it whole). Nothing else is written between them (the writes are synchronous). Returns how
   * many were written. A change of the stream's tenant slug under another tenant id means its tenant
   * was deleted and the slug taken: the stream ends rather than be sent a new tenant's changes.
   * `cork`: held until the next tick with what follows (the feed's delivery: the revision's bookmark
   * leaves with it).
   */
  offerRevision(changes: readonly LoggedChange[], cork = false): number {
    const revision = changes[0]?.revision;
    if (revision === undefined || revision <= this.covered) return 0;
    let share: LoggedChange[] | undefined;
    for (const change of changes) if (this.matches(change)) (share ??= []).push(change);
    if (share === undefined) return 0;
    if (this.tenant !== null) {
      for (const change of share) {
        if (change.tenantId === null) continue;
        if (this.tenantId === null) this.tenantId = change.tenantId;
        else if (change.tenantId !== this.tenantId) {
          this.close('tenant-gone');
          return 0;
        }
      }
    }
    this.covered = revision;
    this.lastId = revision;
    if (cork) this.cork();
    if (!this.admit(share.length)) return 0;
    const last = share.length - 1;
    for (let i = 0; i < last; i++) this.send(bareFrame(share[i] as LoggedChange));
    this.send((share[last] as LoggedChange).frame);
    return share.length;
  }

  /**
   * Writes a bookmark for `proof` when it says something new: a higher revision (when `advanceDue`:
   * the sweep leaves it for a later sweep that is still within the contract's 200 ms), or (a
   * heartbeat, once `heartbeatMs` passed) a newer proof. Never below what the stream was sent. True if
   * written.
   */
  bookmark(proof: Proof, now: number, heartbeatMs: number, advanceDue = true): boolean {
    if (this.congestedSince !== undefined || proof.revision < this.covered || proof.revision < this.lastId) return false;
    const advances = advanceDue && proof.revision > this.lastBookmark;
    const heartbeat = now - this.lastBookmarkAt >= heartbeatMs && proof.establishedAt > (this.lastProof?.establishedAt ?? -Infinity);
    if (!advances && !heartbeat) return false;
    this.sendBookmark(proof, now, false);
    return true;
  }

  /** The bookmark that ends a snapshot (or a resume's catch-up), whatever came before. */
  sendBookmark(proof: Proof, now: number, snapshot: boolean): void {
    this.covered = Math.max(this.covered, proof.revision);
    this.lastId = proof.revision;
    this.lastBookmark = proof.revision;
    this.lastBookmarkAt = now;
    this.lastProof = proof;
    this.write(bookmarkFrame(proof, now, snapshot), 0);
  }

  /**
   * Holds what is written until the next tick, so that a revision's events and the bookmark that
   * follows them leave in one write (one system call, one chunk for the client) rather than one each.
   */
  cork(): void {
    if (this.corked || this.ended) return;
    this.corked = true;
    this.response.cork();
    process.nextTick(() => {
      this.corked = false;
      this.response.uncork();
    });
  }

  /** Writes a frame; `events` counts toward the unread limit while the client is not reading. */
  write(frame: string, events: number): boolean {
    if (!this.admit(events)) return false;
    this.send(frame);
    return true;
  }

  /**
   * Whether `events` more may be written (all or none: a revision counts whole): while the client is
   * not reading they count toward WATCH_MAX_BUFFERED_EVENTS, and past it the stream is cut, unless
   * nothing waits yet (one revision alone, however large, is never a reason to cut).
   */
  private admit(events: number): boolean {
    if (this.ended) return false;
    if (this.congestedSince !== undefined) {
      if (this.queued > 0 && this.queued + events > this.options.maxBuffered) {
        this.close('slow');
        return false;
      }
      this.queued += events;
    }
    return true;
  }

  private send(frame: string): void {
    if (!this.response.write(frame) && this.congestedSince === undefined) this.congestedSince = this.options.clock();
  }

  /**
   * Resolves once the client has read what was written (for the snapshot and the catch-up, which set
   * their own pace), or the stream ended: one congested past WATCH_MAX_CONGESTED_MS is cut.
   */
  async drained(): Promise<void> {
    if (this.congestedSince === undefined || this.ended) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.response.off('drain', done);
        this.response.off('close', done);
        resolve();
      };
      this.response.on('drain', done);
      this.response.on('close', done);
    });
  }

  close(reason: CloseReason): void {
    if (this.ended) return;
    this.ended = true;
    this.options.ticket.release();
    this.onClose(this, reason);
    // A client that does not read would never take the rest: cut it. Others get a clean end and resume.
    if (reason === 'slow') this.response.destroy();
    else this.response.end();
  }
}
