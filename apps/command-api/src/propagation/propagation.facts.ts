import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { KAFKA, TopicAdmin, type KafkaClient } from '@tm/messaging';
import { withTimeout } from '@tm/platform';
import { createFeedReportsRedis, FeedReportStore, parseOffsets, type FeedReports } from '@tm/propagation';
import { CommandApiConfig } from '../config';
import type { Offsets, StoreFacts } from './propagation.status';

/** How long Kafka or Redis may take to answer a check; past it, that part counts as not known (pending). */
const DEPENDENCY_TIMEOUT_MS = 1_000;

interface Row {
  revision: string;
  current: string;
  first_unpublished: string | null;
  committed_at: Date | null;
  offsets: unknown;
}

/**
 * Reads what a propagation status is decided from: the database (one statement for any number of
 * revisions), the worker group's committed offsets (Kafka), the resolver replicas' reports (Redis).
 * Kafka and Redis are asked at most once at a time: callers that ask meanwhile share the answer.
 */
@Injectable()
export class PropagationFacts implements OnApplicationShutdown {
  private readonly feeds: FeedReportStore;
  private admin: TopicAdmin | undefined;
  private connected = false;
  /** Set at shutdown: no new Kafka connection is opened after it. */
  private closing = false;
  private committedInFlight: Promise<Offsets | undefined> | undefined;
  private feedsInFlight: Promise<FeedReports | undefined> | undefined;

  constructor(
    private readonly config: CommandApiConfig,
    private readonly dataSource: DataSource,
    @Inject(KAFKA) private readonly kafka: KafkaClient,
  ) {
    this.feeds = new FeedReportStore(createFeedReportsRedis(config.REDIS_URL), config.CACHE_KEY_PREFIX, DEPENDENCY_TIMEOUT_MS);
  }

  /** The database's facts about each revision, from one snapshot. */
  async store(revisions: readonly number[]): Promise<Map<number, StoreFacts>> {
    const rows = await this.dataSource.query<Row[]>(
      `SELECT w.r::text AS revision, s.revision::text AS current, u.first::text AS first_unpublished,
              COALESCE((SELECT min(o.created_at) FROM outbox o WHERE o.revision = w.r), (SELECT cs.at FROM change_sets cs WHERE cs.revision = w.r)) AS committed_at,
              (SELECT p.offsets FROM relay_positions p WHERE p.revision >= w.r ORDER BY p.revision LIMIT 1) AS offsets
         FROM unnest($1::bigint[]) w(r)
        CROSS JOIN store_revision s
        CROSS JOIN (SELECT min(revision) AS first FROM outbox WHERE published_at IS NULL) u
        WHERE s.id = 1`,
      [revisions],
    );
    return new Map(
      rows.map((r) => [
        Number(r.revision),
        {
          current: Number(r.current),
          firstUnpublished: r.first_unpublished === null ? null : Number(r.first_unpublished),
          committedAt: r.committed_at,
          position: parseOffsets(r.offsets),
        },
      ]),
    );
  }

  /** The worker group's committed offsets on the route events topic; undefined when Kafka did not answer. */
  committed(): Promise<Offsets | undefined> {
    this.committedInFlight ??= this.readCommitted().finally(() => {
      this.committedInFlight = undefined;
    });
    return this.committedInFlight;
  }

  /** The resolver replicas' reports; undefined when Redis did not answer. */
  feedReports(): Promise<FeedReports | undefined> {
    this.feedsInFlight ??= this.feeds
      .read()
      .catch(() => undefined)
      .finally(() => {
        this.feedsInFlight = undefined;
      });
    return this.feedsInFlight;
  }

  private async readCommitted(): Promise<Offsets | undefined> {
    if (this.closing) return undefined;
    try {
      this.admin ??= new TopicAdmin(this.kafka, { retries: 0 });
      const admin = this.admin;
      const read = async () => {
        if (!this.connected) {
          await admin.connect();
          this.connected = true;
        }
        return admin.committedOffsets(this.config.KAFKA_CONSUMER_GROUP, this.config.KAFKA_ROUTE_EVENTS_TOPIC);
      };
      const positions = await withTimeout(read(), DEPENDENCY_TIMEOUT_MS, 'Kafka');
      return new Map(positions.map((p) => [p.partition, BigInt(p.offset)]));
    } catch {
      // Kafka down or slow: not known, so not applied. A new connection next time.
      await this.closeAdmin();
      return undefined;
    }
  }

  private async closeAdmin(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    this.connected = false;
    await admin
      ?.disconnect()
      .catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    // A read in flight finishes first (it is bounded by DEPENDENCY_TIMEOUT_MS), so that the connection
    // it may have opened is the one closed here, not left open after the app stops.
    await this.committedInFlight;
    await Promise.all([withTimeout(this.closeAdmin(), 1_000, 'Kafka').catch(() => undefined), this.feeds.close()]);
  }
}
