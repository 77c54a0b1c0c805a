import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { parseRouteEvent, policyOfData, WatchEvents } from '@tm/contracts';
import type { CachedRoute } from '@tm/route-cache';
import { OUTBOX_CHANNEL, readChangesAfter, readNewestChanges, type Change, type ChangesAfter } from '@tm/persistence';
import { ResolverConfig } from '../config';
import { LOCAL_CLOCK, type LocalClock } from '../resolve/database-clock';
import { LocalRouteCache } from '../resolve/local-cache';
import { ReadTier } from '../resolve/read-tier';
import { ChangeLog, revisionsOf, type LoggedChange } from './change-log';
import { WATCH_HOOKS, type WatchHooks } from './watch-hooks';
import { WatchMetrics } from './watch.metrics';
import type { Proof } from './watch-stream';

/**
 * With the resolver's memory on (CACHE_LOCAL_MAX_ROUTES > 0), the feed proves its progress at least this
 * often: memory answers only while the last proof is younger than LOCAL_PROOF_MAX_AGE_MS.
 */
export const LOCAL_PROOF_POLL_MS = 250;

/** Outbox rows read per statement (more when a revision is larger: a read never splits one). */
const FEED_BATCH = 1_000;
/** Memory keeps at least this many changes and every change of the last HISTORY_MIN_AGE_MS (docs/guarantees.md, "Watch"). */
const HISTORY_MIN_ENTRIES = 10_000;
const HISTORY_MIN_AGE_MS = 5 * 60_000;
/** Beyond this many, older changes are read from the outbox instead. */
const HISTORY_MAX_ENTRIES = 200_000;

/** What the feed tells the streams. */
export interface FeedListener {
  /** Changes, in revision order, whole revisions (in route key order within one), continuing the last ones: every stream that cares gets them. */
  deliver(changes: LoggedChange[]): void;
  /** The feed proved it holds every change up to the store's revision at a moment of the database's clock. */
  progressed(proof: Proof): void;
  /** The feed found changes it can no longer read (it fell behind the outbox's retention): every stream must start again. */
  lost(): void;
}

export function toLoggedChange(change: Change, at: number): LoggedChange {
  const slash = change.routeKey.indexOf('/');
  const tenant = change.routeKey.slice(0, slash);
  const service = change.routeKey.slice(slash + 1, change.routeKey.indexOf('/', slash + 1));
  const name = change.deleted ? WatchEvents.delete : WatchEvents.put;
  return { revision: change.revision, tenant, tenantId: change.tenantId, service, frame: `event: ${name}\nid: ${change.revision}\ndata: ${change.event}\n\n`, at };
}

/**
 * The changes that end at `current` with no revision missing (the newest of `changes`, in order; a
 * revision may hold many); none if `current` is not among them. `changes` hold whole revisions.
 */
export function denseTail(changes: readonly Change[], current: number): Change[] {
  let i = changes.length;
  if (changes[i - 1]?.revision !== current) return [];
  let expected = current;
  while (i > 0) {
    const revision = (changes[i - 1] as Change).revision;
    if (revision === expected - 1) expected = revision;
    else if (revision !== expected) break;
    i--;
  }
  return changes.slice(i);
}

/**
 * A route's state as a change's event gives it, for the resolver's memory: the route, or null when
 * it was deleted; undefined when memory cannot hold it from the event alone (a probed route, whose
 * endpoints' health is not in it; an event it cannot read).
 */
export function heldStateOf(change: Change): CachedRoute | null | undefined {
  const parsed = parseRouteEvent(change.event);
  if ('error' in parsed) return undefined;
  const { data, tenantid } = parsed.event;
  if (data.url === null) return null;
  const policy = policyOfData({ url: data.url, revision: data.revision, endpoints: data.endpoints, healthCheck: data.healthCheck });
  if (policy === undefined || policy.healthCheck !== null) return undefined;
  const route: CachedRoute = { url: data.url, revision: data.revision, endpoints: policy.endpoints, healthCheck: null };
  if (tenantid !== undefined) route.tenantId = tenantid;
  return route;
}

/**
 * The replica's one feed of changes (docs/guarantees.md, "Watch"): it reads the outbox after the last
 * revision it holds, woken by the commit notification every write sends (the channel the relay
 * listens to) and at least every WATCH_FEED_POLL_MS. One statement reads the new rows and the
 * revision clock from one snapshot, so when the rows reach the clock's revision the feed has proved
 * it holds everything up to the store's revision at that statement's time: that proof is what
 * bookmarks carry. PostgreSQL unreachable: no proof, so bookmarks stop and streams see their
 * staleness grow. The cost of a change in PostgreSQL is one read per replica, whatever the number of
 * streams; the streams are served from memory.
 */
@Injectable()
export class ChangeFeed implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WatchFeed');
  /** Undefined until the first read: the feed starts at the store's revision then. */
  history: ChangeLog | undefined;
  /** The newest proof; undefined before the first read. */
  proof: Proof | undefined;
  private listener: FeedListener | undefined;
  private notifications: Client | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private woken = false;
  private loop: Promise<void> | undefined;
  private failing = false;
  private readonly pollMs: number;
  private firstRead: (() => void) | undefined;
  /** Resolves after the first successful read (tests). */
  readonly started: Promise<void>;

  constructor(
    private readonly config: ResolverConfig,
    private readonly dataSource: DataSource,
    private readonly metrics: WatchMetrics,
    @Inject(LOCAL_CLOCK) private readonly clock: LocalClock,
    @Inject(WATCH_HOOKS) private readonly hooks: WatchHooks,
    /** The resolver's memory of answers: it holds an answer only while this feed proves it current. */
    private readonly local: LocalRouteCache,
    private readonly readTier: ReadTier,
  ) {
    // A quiet stream's heartbeat carries a proof at most this old (plus one read); with the resolver's
    // memory on, a proof at most LOCAL_PROOF_POLL_MS old, so that memory answers without pause.
    this.pollMs = Math.min(config.WATCH_FEED_POLL_MS, Math.floor(config.WATCH_BOOKMARK_INTERVAL_MS / 2), local.enabled ? LOCAL_PROOF_POLL_MS : Number.MAX_SAFE_INTEGER);
    this.started = new Promise((resolve) => (this.firstRead = resolve));
  }

  /** The revision up to which the feed holds every change (undefined before its first read): what the replica reports for propagation. */
  get revision(): number | undefined {
    return this.history?.last;
  }

  subscribe(listener: FeedListener): void {
    this.listener = listener;
  }

  onApplicationBootstrap(): void {
    this.loop = this.run();
    void this.listen();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    const client = this.notifications;
    this.notifications = undefined;
    await client?.end().catch(() => undefined);
  }

  /** Asks for a read now (a write committed). */
  poke(): void {
    this.woken = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      // Not connected yet (DatabaseConnector retries and says so): nothing to report until it is.
      if (!this.dataSource.isInitialized) {
        await this.sleep();
        continue;
      }
      let more = false;
      try {
        more = await this.read();
        if (this.failing) this.logger.log('watch feed: reading the outbox again');
        this.failing = false;
        this.metrics.feedReads.inc({ outcome: 'ok' });
      } catch (e) {
        this.metrics.feedReads.inc({ outcome: 'failed' });
        if (!this.failing) this.logger.warn(`watch feed: cannot read the outbox (${e instanceof Error ? e.message : String(e)}); bookmarks stop until it can`);
        this.failing = true;
      }
      if (this.proof) this.metrics.feedProofAge.set(Math.max(0, this.clock() - this.proof.establishedAt) / 1000);
      if (more || this.stopped) continue;
      await this.sleep();
    }
  }

  private async sleep(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.pollMs);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = undefined;
    this.woken = false;
  }

  /** One read of the outbox; true when there is more to read at once. */
  private async read(): Promise<boolean> {
    const query = <T>(sql: string, params: unknown[]) => this.dataSource.query<T[]>(sql, params);
    const sentAt = this.clock();
    const history = this.history;
    if (!history) {
      // The first read: the store's revision and the newest changes (the outbox keeps at least
      // HISTORY_MIN_ENTRIES rows, whole revisions), from one snapshot: the feed starts with them, so
      // resumes from them are served from memory and answers cached before this replica started
      // (Redis holds them) can be checked.
      const first = await readNewestChanges(query, this.hooks.primeChanges ?? HISTORY_MIN_ENTRIES);
      const kept = denseTail(first.changes, first.current);
      const start = kept.length > 0 ? (kept[0] as Change).revision - 1 : first.current;
      const now = this.clock();
      this.history = new ChangeLog(start, HISTORY_MIN_ENTRIES, HISTORY_MIN_AGE_MS, HISTORY_MAX_ENTRIES);
      for (const revision of revisionsOf(kept)) this.history.append(revision.map((c) => toLoggedChange(c, now)));
      this.local.start(start);
      this.local.changed(kept.map((c) => ({ key: c.routeKey, revision: c.revision })));
      this.prove(first, sentAt);
      this.firstRead?.();
      return false;
    }
    const after = history.last;
    const batch = await readChangesAfter(query, after, FEED_BATCH);
    await this.hooks.feedRead?.(batch);
    const now = this.clock();
    // Whole revisions (a read never splits one), each the one after the last.
    const fresh: LoggedChange[] = [];
    for (const revision of revisionsOf(batch.changes)) {
      if ((revision[0] as Change).revision !== history.last + 1) break;
      const logged = revision.map((change) => toLoggedChange(change, now));
      history.append(logged);
      fresh.push(...logged);
      for (const change of revision) this.metrics.feedDelay.observe(Math.max(0, batch.readAt - change.createdAt) / 1000);
    }
    if (fresh.length > 0) {
      this.local.changed(batch.changes.slice(0, fresh.length).map((c) => ({ key: c.routeKey, revision: c.revision, knownAt: c.createdAt, state: () => heldStateOf(c) })));
      this.listener?.deliver(fresh);
      this.metrics.feedRevision.set(history.last);
    }
    history.trim(now);
    if (history.last === batch.current) {
      this.prove(batch, sentAt);
      return false;
    }
    if (fresh.length === batch.changes.length && fresh.length >= FEED_BATCH) return true;
    // Revisions are dense (each has at least one row) and visible in commit order, a revision's rows
    // all at once: a missing one is gone (retention deleted rows this replica never read), never
    // late. Streams cannot go on past it without a gap.
    const next = batch.changes[fresh.length]?.revision ?? batch.current + 1;
    this.logger.error(`watch feed: revisions ${history.last + 1} to ${next - 1} are no longer in the outbox; every stream starts again`);
    this.metrics.feedGaps.inc();
    history.reset(next - 1);
    this.local.lost(next - 1);
    this.listener?.lost();
    return true;
  }

  private prove(read: ChangesAfter, sentAt: number): void {
    this.proof = { revision: read.current, knownCurrentAt: read.readAt, establishedAt: sentAt };
    // The feed reads the primary: its proofs are the primary's revision, which the read tier's replica reads need.
    this.readTier.observe(this.proof);
    this.metrics.feedRevision.set(read.current);
    this.local.progressed(this.proof);
    this.listener?.progressed(this.proof);
  }

  /** Writes wake the feed at once through the outbox channel; without it, the poll still reads. */
  private async listen(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      const client = new Client({
        connectionString: this.config.DATABASE_URL,
        application_name: 'resolver-watch',
        connectionTimeoutMillis: 2_000,
        keepAlive: true,
      });
      const ended = new Promise<void>((resolve) => {
        client.on('error', () => resolve());
        client.on('end', () => resolve());
      });
      client.on('notification', () => this.poke());
      try {
        await client.connect();
        await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
        if (!this.stopped) {
          this.notifications = client;
          attempt = 0;
          // Changes committed while not listening: read them now.
          this.poke();
          await ended;
        }
      } catch {
        // PostgreSQL unreachable: the poll goes on; try again below.
      }
      if (this.notifications === client) this.notifications = undefined;
      await client.end().catch(() => undefined);
      if (this.stopped) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2_000)).unref());
    }
  }
}
