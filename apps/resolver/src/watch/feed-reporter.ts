import { hostname } from 'node:os';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createFeedReportsRedis, FeedReportStore } from '@tm/propagation';
import { ResolverConfig } from '../config';
import { ChangeFeed } from './change-feed';

/** How often the reporter looks at the feed: a new revision is reported within this (plus Redis's answer). */
export const FEED_REPORT_CHECK_MS = 20;
/** A quiet feed is reported at least this often: the command API counts a replica live while it hears from it. */
export const FEED_REPORT_HEARTBEAT_MS = 1_000;
/** A replica not heard from for this long is removed from the reports (until then it is listed as not live). */
export const FEED_REPORT_FORGET_MS = 10 * 60_000;

/**
 * Tells the command API how far this replica's watch feed is (docs/guarantees.md, "Propagation"):
 * its revision, in Redis (FeedReportStore), each time it advances (looked at every 20 ms) and every
 * second. It only reads the feed's revision. One report in flight at a time; Redis down: reports
 * fail quietly (the command API then lists no replica) and resume when it is back. A replica that
 * stops gracefully removes its report; one that dies stops reporting and is listed as not live.
 */
@Injectable()
export class FeedReporter implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('FeedReporter');
  readonly replica: string;
  private readonly store: FeedReportStore;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private reported = -1;
  private reportedAt = 0;
  private failing = false;

  constructor(
    config: ResolverConfig,
    private readonly feed: ChangeFeed,
  ) {
    this.replica = config.RESOLVER_REPLICA_ID ?? `${hostname()}-${process.pid}`;
    // A client of its own (as the rate limits have): reports never queue behind the hot path's commands.
    this.store = new FeedReportStore(createFeedReportsRedis(config.REDIS_URL), config.CACHE_KEY_PREFIX);
  }

  onApplicationBootstrap(): void {
    this.store.open();
    this.timer = setInterval(() => this.tick(), FEED_REPORT_CHECK_MS);
    this.timer.unref();
  }

  /** Stops reporting and leaves the last report, as a replica that hangs or is cut off from Redis does (tests). */
  async silence(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.silence();
    // This replica serves no watch any more: it no longer counts, live or not.
    await this.store.remove(this.replica).catch(() => undefined);
    await this.store.close();
  }

  private tick(): void {
    const revision = this.feed.revision;
    if (revision === undefined || this.inFlight) return;
    if (revision === this.reported && Date.now() - this.reportedAt < FEED_REPORT_HEARTBEAT_MS) return;
    this.inFlight = this.report(revision).finally(() => {
      this.inFlight = undefined;
    });
  }

  private async report(revision: number): Promise<void> {
    try {
      await this.store.report(this.replica, revision, FEED_REPORT_FORGET_MS);
      this.reported = revision;
      this.reportedAt = Date.now();
      if (this.failing) this.logger.log('reporting the watch feed again');
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.logger.warn(`cannot report the watch feed's revision (${e instanceof Error ? e.message : String(e)}); the propagation status lists this replica again once Redis answers`);
      this.failing = true;
      // Not again before the heartbeat: a Redis that is down is not asked every 20 ms.
      this.reportedAt = Date.now();
      this.reported = revision;
    }
  }
}
