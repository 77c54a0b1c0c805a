import type { ServerResponse } from 'node:http';
import { WatchEvents, type WatchBookmark } from '@tm/contracts';
import type { LoggedChange } from './change-log';

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

export type CloseReason = 'client' | 'slow' | 'shutdown' | 'gap' | 'error' | 'health-gap';

/** An SSE frame for a bookmark. */
export function bookmarkFrame(proof: Proof, now: number, snapshot: boolean): string {
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
 * events queued until `maxBuffered` are, then it is closed (it resumes from its last id).
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
  private queued = 0;
  private congested = false;
  private ended = false;

  constructor(
    private readonly response: ServerResponse,
    /** null: every tenant the key may read (an unbound key on /v1/watch). */
    readonly tenant: string | null,
    readonly service: string | null,
    /** ?health=true: health events too. */
    readonly health: boolean,
    private readonly maxBuffered: number,
    private readonly onClose: (stream: WatchStream, reason: CloseReason) => void,
  ) {
    response.on('drain', () => {
      this.congested = false;
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

  /** Writes a change the stream has not been sent and cares about; true if written. */
  offer(change: LoggedChange): boolean {
    if (change.revision <= this.covered || !this.matches(change)) return false;
    this.covered = change.revision;
    this.lastId = change.revision;
    this.write(change.frame, 1);
    return true;
  }

  /**
   * Writes a bookmark for `proof` when it says something new: a higher revision, or (a heartbeat,
   * once `heartbeatMs` passed) a newer proof. Never below what the stream was sent. True if written.
   */
  bookmark(proof: Proof, now: number, heartbeatMs: number): boolean {
    if (proof.revision < this.covered || proof.revision < this.lastId) return false;
    const advances = proof.revision > this.lastBookmark;
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

  /** Writes a frame; `events` counts toward the unread limit while the client is not reading. */
  write(frame: string, events: number): boolean {
    if (this.ended) return false;
    if (this.congested) {
      this.queued += events;
      if (this.queued > this.maxBuffered) {
        this.close('slow');
        return false;
      }
    }
    if (!this.response.write(frame)) this.congested = true;
    return true;
  }

  /** Resolves once the client has read what was written (for the catch-up, which sets its own pace). */
  async drained(): Promise<void> {
    if (!this.congested || this.ended) return;
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
    this.onClose(this, reason);
    // A client that does not read would never take the rest: cut it. Others get a clean end and resume.
    if (reason === 'slow') this.response.destroy();
    else this.response.end();
  }
}
