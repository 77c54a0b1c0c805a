import { createHash } from 'node:crypto';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { ServerResponse } from 'node:http';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ApiKeyVerifier, tenantGone } from '@tm/auth';
import { routeEvent, routeKey, WatchEvents, type WatchCompacted } from '@tm/contracts';
import { databaseFailure, historyBounds, readChangesAfter, readRoutesSnapshot, type Query, type RoutesSnapshot } from '@tm/persistence';
import { OverloadedException, ProblemException, UnavailableException } from '@tm/platform';
import { ResolverConfig } from '../config';
import { LOCAL_CLOCK, type LocalClock } from '../resolve/database-clock';
import { ReadTier } from '../resolve/read-tier';
import { FeedPasses } from './feed-passes';
import { ChangeFeed, toLoggedChange, type FeedListener } from './change-feed';
import { HealthEvents } from './health-events';
import { revisionsOf, type ChangeLog, type LoggedChange } from './change-log';
import { WATCH_HOOKS, type WatchHooks } from './watch-hooks';
import { WatchMetrics } from './watch.metrics';
import { WatchStream, type CloseReason, type Proof } from './watch-stream';
import { StreamLimits, type StreamOwner, type StreamTicket } from './stream-limits';

/** How often the sweep looks for streams owed a bookmark (coalescing; the contract allows 200 ms). */
const SWEEP_MS = 50;
/** The contract's bound: a stream gets a bookmark within this long after the feed passes a revision above its last one. */
const BOOKMARK_WITHIN_MS = 200;
/**
 * A stream behind the latest proof is sent a bookmark once the feed passed its last bookmark's
 * revision this long ago: the sweep after would be the last in time, and a sweep may start late
 * under load. Earlier bookmarks would say little more (each costs a write to every stream).
 */
const ADVANCE_AFTER_MS = BOOKMARK_WITHIN_MS - SWEEP_MS - 40;
/** Streams bookmarked by the sweep before it lets other work (a delivery) run. */
const SWEEP_SLICE = 1_000;
/** Outbox rows per page when a stream resumes from before this replica's memory. */
const HISTORY_PAGE = 500;
/** Snapshot routes written before waiting for the client to read them. */
const SNAPSHOT_CHUNK = 500;
/** The keys of open streams are checked at most this often (AUTH_CACHE_TTL_MS 0 asks every request, and streams this often). */
const MIN_REVOCATION_CHECK_MS = 250;

/** What a stream is sent: a tenant's routes (one service's, when given), or every tenant's. */
export interface WatchFilter {
  tenant: string | null;
  service: string | null;
  /** ?health=true: health events too. */
  health?: boolean;
}

/** A stream asked for: what it is sent, and whose it is. */
export interface WatchRequest {
  filter: WatchFilter;
  /** The key's id (null: TM_ADMIN_TOKEN) and the tenant it counts against. */
  owner: StreamOwner;
  /** The tenant's id when the key is bound to it: a tenant is its id, not its slug. */
  tenantId: string | null;
}

/** Where a stream starts: a snapshot, or a resume from this replica's memory or from the outbox. */
type StartPoint = { kind: 'snapshot'; snapshot: RoutesSnapshot; sentAt: number } | { kind: 'memory'; since: number } | { kind: 'outbox'; since: number };

/** How a stream starts, decided (and checked against the store) before its response begins. */
export type WatchStart = StartPoint & {
  request: WatchRequest;
  /** Its place among the replica's streams, held from admission. */
  ticket: StreamTicket;
};

/** A CloudEvent id for a route's state whose outbox row is gone: the same for the same state. */
function derivedEventId(key: string, revision: number): string {
  const h = createHash('sha256').update(`${key}@${revision}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * The watch (docs/guarantees.md, "Watch"): streams indexed by tenant, fed in memory by the replica's one
 * ChangeFeed. A change costs only the streams of its tenant (and those of every tenant); bookmarks are
 * coalesced: a stream that got events gets one with the proof that follows them, the others at the
 * next sweep (within SWEEP_MS), and every stream at least every WATCH_BOOKMARK_INTERVAL_MS while the
 * feed proves progress. A stream that resumes from before memory reads the outbox first and joins
 * the feed only once memory covers where it stands, so a bookmark never covers a change it was not sent.
 */
@Injectable()
export class WatchService implements FeedListener, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Watch');
  /** Every stream, catching up or live. */
  private readonly streams = new Set<WatchStream>();
  /** Live streams of one tenant, and of every tenant. */
  private readonly byTenant = new Map<string, Set<WatchStream>>();
  private readonly everyTenant = new Set<WatchStream>();
  /** Streams sent events since the last proof: they get its bookmark at once. */
  private touched: WatchStream[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  /** A sweep is under way (it yields between slices of streams). */
  private sweeping = false;
  /** A tick came while it ran: sweep again as soon as it ends. */
  private sweepAgain = false;
  /** When the feed passed each revision: when a stream behind the latest proof is owed its bookmark. */
  private readonly passes = new FeedPasses(10 * BOOKMARK_WITHIN_MS);
  private revocationTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly query: Query;
  private readonly limits: StreamLimits;

  constructor(
    private readonly config: ResolverConfig,
    private readonly dataSource: DataSource,
    private readonly feed: ChangeFeed,
    private readonly metrics: WatchMetrics,
    @Inject(LOCAL_CLOCK) private readonly clock: LocalClock,
    @Inject(WATCH_HOOKS) private readonly hooks: WatchHooks,
    private readonly healthEvents: HealthEvents,
    private readonly verifier: ApiKeyVerifier,
    private readonly readTier: ReadTier,
  ) {
    this.query = <T>(sql: string, params: unknown[]) => this.dataSource.query<T[]>(sql, params);
    this.limits = new StreamLimits(
      { total: config.WATCH_MAX_STREAMS, perKey: config.WATCH_MAX_STREAMS_PER_KEY, perTenant: config.WATCH_MAX_STREAMS_PER_TENANT },
      (limit, owner) => this.metrics.refused.inc({ limit, tenant: owner.tenant ?? '-' }),
    );
    feed.subscribe(this);
  }

  get bookmarkIntervalMs(): number {
    return this.config.WATCH_BOOKMARK_INTERVAL_MS;
  }

  onApplicationBootstrap(): void {
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
    this.scheduleRevocationCheck();
  }

  /** SIGTERM: every stream ends (clients resume on another replica); new ones get 503. */
  beforeApplicationShutdown(): void {
    this.closing = true;
    clearInterval(this.sweepTimer);
    clearTimeout(this.revocationTimer);
    for (const stream of [...this.streams]) stream.close('shutdown');
  }

  /** How often the keys of open streams are checked: half the auth cache's TTL, so a revocation ends them within it. */
  private get revocationCheckMs(): number {
    return Math.max(MIN_REVOCATION_CHECK_MS, Math.floor(this.config.AUTH_CACHE_TTL_MS / 2));
  }

  private scheduleRevocationCheck(): void {
    if (this.closing) return;
    this.revocationTimer = setTimeout(() => {
      void this.checkRevocations().finally(() => this.scheduleRevocationCheck());
    }, this.revocationCheckMs);
    this.revocationTimer.unref();
  }

  /**
   * Revocation reaches open streams (docs/guarantees.md, "Tenancy"): the stored keys of every open
   * stream, checked in one statement; the streams of a key revoked or deleted (a tenant's deletion
   * deletes its keys) end cleanly, and the client's resume is refused. While PostgreSQL cannot say,
   * streams go on, as every read does with the keys verified before an outage.
   */
  async checkRevocations(): Promise<void> {
    const keys = new Set<string>();
    for (const stream of this.streams) if (stream.keyId !== null) keys.add(stream.keyId);
    if (keys.size === 0) return;
    let valid: Set<string>;
    try {
      valid = await this.verifier.stillValid([...keys]);
    } catch (e) {
      this.logger.debug(`keys of open streams not checked: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    let ended = 0;
    for (const stream of [...this.streams]) {
      if (stream.keyId === null || valid.has(stream.keyId)) continue;
      stream.close('revoked');
      ended++;
    }
    if (ended > 0) this.logger.log(`ended ${ended} watch streams of revoked or deleted keys`);
  }

  /**
   * Admits a stream (its place counts from now: 503 when the replica is full, 429 over a key's or a
   * tenant's quota), decides how it starts and checks it against the store: 410 for a revision older
   * than the history, 412 beyond the store, 503 while a snapshot (or a resume from before memory)
   * cannot reach PostgreSQL. Nothing is written yet; a refusal gives its place back.
   */
  async prepare(request: WatchRequest, since: number | undefined): Promise<WatchStart> {
    if (this.closing) throw new UnavailableException('this replica (it is shutting down)', 1);
    const ticket = this.limits.admit(request.owner);
    try {
      return { ...(await this.decide(request, since)), request, ticket };
    } catch (e) {
      ticket.release();
      throw e;
    }
  }

  private async decide(request: WatchRequest, since: number | undefined): Promise<StartPoint> {
    const { filter } = request;
    if (since === undefined) {
      await this.hooks.beforeSnapshotRead?.();
      const { snapshot, sentAt } = await this.fromDatabase(() => this.readSnapshot(filter));
      if (request.tenantId !== null && filter.tenant !== null && snapshot.tenantId !== request.tenantId) throw tenantGone(filter.tenant);
      return { kind: 'snapshot', snapshot, sentAt };
    }
    const history = this.feed.history;
    if (history && since >= history.floor && since <= history.last) return { kind: 'memory', since };
    const bounds = await this.fromDatabase(() => historyBounds(this.query));
    if (since > bounds.current) {
      throw new ProblemException(412, 'Precondition Failed', `the store is at revision ${bounds.current}, before ${since}`, { code: 'min_revision_ahead' });
    }
    const compactRevision = bounds.oldest - 1;
    if (since < compactRevision) {
      const members: WatchCompacted = { compactRevision, currentRevision: bounds.current };
      throw new ProblemException(410, 'Gone', `revisions up to ${compactRevision} are no longer kept; take a new snapshot (watch without since)`, {
        code: 'revision_compacted',
        members: { ...members },
      });
    }
    return { kind: 'outbox', since };
  }

  /** Starts a prepared stream on a response whose headers are written. */
  open(response: ServerResponse, start: WatchStart): void {
    const { filter, owner, tenantId } = start.request;
    const stream = new WatchStream(
      response,
      {
        tenant: filter.tenant,
        tenantId: tenantId ?? (start.kind === 'snapshot' ? start.snapshot.tenantId : null),
        service: filter.service,
        health: filter.health === true,
        keyId: owner.keyId,
        maxBuffered: this.config.WATCH_MAX_BUFFERED_EVENTS,
        clock: this.clock,
        ticket: start.ticket,
      },
      (s, reason) => this.forget(s, reason),
    );
    this.streams.add(stream);
    this.metrics.streams.set(this.limits.open);
    this.metrics.opened.inc({ start: start.kind });
    this.begin(stream, start).catch((e: unknown) => {
      if (stream.closed) return;
      this.logger.warn(`watch stream ended: ${e instanceof Error ? e.message : String(e)}`);
      stream.close('error');
    });
  }

  private async begin(stream: WatchStream, start: WatchStart): Promise<void> {
    let from: number;
    if (start.kind === 'snapshot') {
      const { snapshot } = start;
      await this.hooks.afterSnapshot?.(snapshot.asOf);
      for (let i = 0; i < snapshot.routes.length && !stream.closed; i++) {
        const r = snapshot.routes[i];
        if (!r) continue;
        const key = routeKey(r);
        const { tenant, service, environment, url, revision, endpoints, healthCheck } = r;
        const data = { tenant, service, environment, url, revision, endpoints, healthCheck };
        const event = routeEvent(r.eventId ?? derivedEventId(key, r.revision), r.updatedAt, data, r.tenantId);
        stream.write(`event: ${WatchEvents.put}\ndata: ${JSON.stringify(event)}\n\n`, 1);
        if (i % SNAPSHOT_CHUNK === SNAPSHOT_CHUNK - 1) await stream.drained();
      }
      this.metrics.eventsSent.inc(snapshot.routes.length);
      // The bookmark is written once the client has taken the snapshot, so its ageMs is its age when written.
      await stream.drained();
      if (stream.closed) return;
      const proof: Proof = { revision: snapshot.asOf, knownCurrentAt: snapshot.readAt, establishedAt: start.sentAt };
      stream.sendBookmark(proof, this.clock(), true);
      this.metrics.bookmarksSent.inc();
      from = snapshot.asOf;
      if (stream.health) {
        this.healthEvents.add(stream);
        await this.healthEvents.sendCurrent(stream, snapshot.routes.map((r) => ({ id: r, endpoints: r.endpoints, healthCheck: r.healthCheck })));
      }
    } else {
      from = start.since;
      stream.covered = from;
      if (stream.health) await this.currentHealthOnResume(stream);
    }
    await this.catchUp(stream, from);
  }

  /**
   * Sends the changes after `from` from the outbox until this replica's memory covers where the stream
   * stands, then joins it to the feed in one synchronous step: the rest from memory, then live.
   */
  private async catchUp(stream: WatchStream, from: number): Promise<void> {
    let position = from;
    for (;;) {
      if (stream.closed) return;
      const history = this.feed.history;
      if (history && position >= history.floor) {
        this.join(stream, history, position);
        return;
      }
      await this.hooks.beforeHistoryPage?.(position);
      const at = position;
      const page = await this.readTier.history(
        at,
        (query) => readChangesAfter(query, at, HISTORY_PAGE),
        () => readChangesAfter(this.query, at, HISTORY_PAGE),
      );
      this.metrics.historyReads.inc();
      if (stream.closed) return;
      if (page.changes.length === 0) {
        if (this.feed.history && page.current > position) {
          stream.close('gap');
          return;
        }
        // The feed has not read the store yet (PostgreSQL came back a moment ago): wait for it.
        await new Promise((resolve) => setTimeout(resolve, SWEEP_MS).unref());
        continue;
      }
      // Whole revisions (a page never splits one), each the one after the last.
      let sent = 0;
      for (const revision of revisionsOf(page.changes)) {
        const at = (revision[0] as (typeof revision)[number]).revision;
        if (at !== position + 1) {
          // Rows gone between the check and this read: the client resumes and learns it (410).
          stream.close('gap');
          return;
        }
        sent += stream.offerRevision(revision.map((change) => toLoggedChange(change, 0)));
        position = at;
        stream.covered = Math.max(stream.covered, position);
      }
      this.metrics.eventsSent.inc(sent);
      await stream.drained();
    }
  }

  private join(stream: WatchStream, history: ChangeLog, position: number): void {
    stream.covered = Math.max(stream.covered, position);
    let sent = 0;
    for (const revision of revisionsOf(history.after(position) ?? [])) sent += stream.offerRevision(revision);
    this.metrics.eventsSent.inc(sent);
    stream.covered = Math.max(stream.covered, history.last);
    stream.live = true;
    if (stream.tenant === null) this.everyTenant.add(stream);
    else {
      let set = this.byTenant.get(stream.tenant);
      if (!set) this.byTenant.set(stream.tenant, (set = new Set()));
      set.add(stream);
    }
    const proof = this.feed.proof;
    if (proof && stream.bookmark(proof, this.clock(), 0)) this.metrics.bookmarksSent.inc();
  }

  /**
   * Fans whole revisions out: each stream gets its share of a revision together, the `id` line on its
   * last frame (WatchStream.offerRevision), nothing between them.
   */
  deliver(changes: LoggedChange[]): void {
    let sent = 0;
    for (const revision of revisionsOf(changes)) {
      for (const stream of this.streamsOf(revision)) {
        const n = stream.offerRevision(revision, true);
        if (n > 0) {
          sent += n;
          this.touched.push(stream);
        }
      }
    }
    this.metrics.eventsSent.inc(sent);
  }

  /** The live streams a revision's changes may concern: those of their tenants, and those of every tenant. */
  private streamsOf(revision: readonly LoggedChange[]): Iterable<WatchStream> {
    const first = revision[0] as LoggedChange;
    if (revision.every((change) => change.tenant === first.tenant)) {
      const streams = this.byTenant.get(first.tenant);
      return streams ? [...streams, ...this.everyTenant] : this.everyTenant;
    }
    const streams = new Set<WatchStream>();
    for (const change of revision) for (const stream of this.byTenant.get(change.tenant) ?? []) streams.add(stream);
    for (const stream of this.everyTenant) streams.add(stream);
    return streams;
  }

  progressed(proof: Proof): void {
    const touched = this.touched;
    this.touched = [];
    const now = this.clock();
    this.passes.record(proof.revision, now);
    let sent = 0;
    for (const stream of touched) if (stream.live && !stream.closed && stream.bookmark(proof, now, this.config.WATCH_BOOKMARK_INTERVAL_MS)) sent++;
    this.metrics.bookmarksSent.inc(sent);
  }

  lost(): void {
    this.touched = [];
    for (const stream of [...this.streams]) stream.close('gap');
  }

  /**
   * Cuts the streams congested for longer than WATCH_MAX_CONGESTED_MS (they resume), sends a bookmark
   * to each stream behind the latest proof once it is due (ADVANCE_AFTER_MS after the feed passed its
   * last one), and heartbeats to the quiet ones. Slices of SWEEP_SLICE streams, with deliveries free
   * to run between them; the proof is read again for each slice (a newer one is as good).
   */
  async sweep(): Promise<void> {
    if (this.sweeping) {
      // A tick while a long sweep runs (many streams, a busy machine): another follows it at once.
      this.sweepAgain = true;
      return;
    }
    this.sweeping = true;
    try {
      const heartbeat = Math.max(0, this.config.WATCH_BOOKMARK_INTERVAL_MS - SWEEP_MS);
      const streams = [...this.streams];
      let sent = 0;
      for (let from = 0; from < streams.length && !this.closing; from += SWEEP_SLICE) {
        if (from > 0) await yieldToIo();
        const proof = this.feed.proof;
        const now = this.clock();
        for (let i = from; i < Math.min(from + SWEEP_SLICE, streams.length); i++) {
          const stream = streams[i];
          if (!stream || stream.closed) continue;
          if (stream.congestedSince !== undefined && now - stream.congestedSince > this.config.WATCH_MAX_CONGESTED_MS) {
            stream.close('slow');
            continue;
          }
          if (!proof || !stream.live) continue;
          const passed = this.passes.passedAbove(stream.lastBookmark);
          const due = passed !== undefined && now - passed >= ADVANCE_AFTER_MS;
          if (stream.bookmark(proof, now, heartbeat, due)) sent++;
        }
      }
      this.metrics.bookmarksSent.inc(sent);
    } finally {
      this.sweeping = false;
    }
    if (this.sweepAgain && !this.closing) {
      this.sweepAgain = false;
      await this.sweep();
    }
  }

  /**
   * A resume with health: the current health of the stream's routes (the routes as the database has
   * them now), since changes made while it was away are not replayed. Without PostgreSQL the stream
   * goes on without it (health events still come).
   */
  private async currentHealthOnResume(stream: WatchStream): Promise<void> {
    this.healthEvents.add(stream);
    try {
      const { routes } = await readRoutesSnapshot(this.query, stream.tenant, stream.service);
      await this.healthEvents.sendCurrent(stream, routes.map((r) => ({ id: r, endpoints: r.endpoints, healthCheck: r.healthCheck })));
    } catch (e) {
      this.logger.debug(`no current health for a resumed stream: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private forget(stream: WatchStream, reason: CloseReason): void {
    this.streams.delete(stream);
    this.healthEvents.remove(stream);
    if (stream.tenant === null) this.everyTenant.delete(stream);
    else {
      const set = this.byTenant.get(stream.tenant);
      set?.delete(stream);
      if (set?.size === 0) this.byTenant.delete(stream.tenant);
    }
    this.metrics.streams.set(this.limits.open);
    this.metrics.closed.inc({ reason });
  }

  /**
   * A snapshot from a replica that has replayed the primary's revision R known at T (ReadTier), else
   * from the primary. From a replica its revision S >= R is the replica's and its time is T, the
   * primary's (a bookmark's knownCurrentAt is never the replica's clock), established when the
   * primary's statement was sent; from the primary, its own statement's.
   */
  private async readSnapshot(filter: WatchFilter): Promise<{ snapshot: RoutesSnapshot; sentAt: number }> {
    const sentAt = this.clock();
    const answer = await this.readTier.read(
      'snapshot',
      {},
      (query) => readRoutesSnapshot(query, filter.tenant, filter.service),
      (s) => s.asOf,
      () => readRoutesSnapshot(this.query, filter.tenant, filter.service),
    );
    if (!answer.proof) return { snapshot: answer.value, sentAt };
    return { snapshot: { ...answer.value, readAt: answer.proof.knownCurrentAt }, sentAt: answer.proof.establishedAt };
  }

  /** A database read the stream cannot start without: unreachable or overloaded is a 503. */
  private async fromDatabase<T>(read: () => Promise<T>): Promise<T> {
    if (!this.dataSource.isInitialized) throw new UnavailableException('PostgreSQL');
    try {
      return await read();
    } catch (e) {
      const failure = databaseFailure(this.dataSource, e);
      if (failure === 'overloaded') throw new OverloadedException('PostgreSQL');
      if (failure === 'unreachable') throw new UnavailableException('PostgreSQL');
      throw e;
    }
  }
}
