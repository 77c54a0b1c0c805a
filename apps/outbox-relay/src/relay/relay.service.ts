import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { ensureTopics, KAFKA, OrderedProducer, routeEventTopics, TopicReport, topicSettings, type KafkaClient } from '@tm/messaging';
import { METRICS_REGISTRY, withTimeout } from '@tm/platform';
import { OutboxRelayConfig } from '../config';
import { LeaderLock } from './leader-lock';
import { cursorAfter, OUTBOX_START, OutboxStore, type OutboxCursor, type OutboxRow } from './outbox-store';
import { RelayPositions } from './positions';
import { RelayMetrics } from './relay.metrics';

const RETENTION_EVERY_MS = 60_000;
const RETENTION_BATCH = 1_000;

/**
 * The longest prefix of `rows` (at least one) whose payloads fit in one Kafka request: the broker
 * refuses a request over its message.max.bytes (1 MiB by default) however often it is retried.
 */
export function fitInRequest(rows: OutboxRow[], maxBytes: number): OutboxRow[] {
  let bytes = 0;
  let count = 0;
  for (const row of rows) {
    bytes += Buffer.byteLength(row.payload) + Buffer.byteLength(row.routeKey) + 100;
    if (count > 0 && bytes > maxBytes) break;
    count++;
  }
  return rows.slice(0, count);
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Publishes the outbox to Kafka, in revision order, at least once (G7): read a batch of
 * unpublished rows, send it (acks from all in-sync replicas), and only then mark it published. A
 * crash between the acknowledgement and the mark publishes the batch again: duplicates, never a
 * loss. Only the replica holding the leader lock publishes, so per-key order holds across replicas.
 */
@Injectable()
export class RelayService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Relay');
  private readonly lock: LeaderLock;
  private readonly producer: OrderedProducer;
  private readonly replica: string;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private topicSetup: Promise<void> | undefined;
  private readonly topicReport: TopicReport;
  private pendingWake = false;
  private wakeUp: (() => void) | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private retention: Promise<void> | undefined;
  private backlogScrape: Promise<void> | undefined;
  /** Where the published events are on Kafka, for the propagation status (positions.ts). */
  private readonly positions: RelayPositions;

  constructor(
    private readonly config: OutboxRelayConfig,
    private readonly store: OutboxStore,
    private readonly metrics: RelayMetrics,
    @Inject(KAFKA) private readonly kafka: KafkaClient,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.topicReport = new TopicReport(registry, this.logger);
    this.replica = config.RELAY_ID ?? `${hostname()}-${process.pid}`;
    this.lock = new LeaderLock(config.DATABASE_URL, config.RELAY_STANDBY_RETRY_MS, this.replica);
    this.producer = new OrderedProducer(kafka);
    this.positions = new RelayPositions(kafka, config.KAFKA_ROUTE_EVENTS_TOPIC, () => this.metrics.errors.inc({ stage: 'position' }));
    this.metrics.leader.set({ replica: this.replica }, 0);
    this.metrics.refreshBacklog = () => this.collectBacklog();
  }

  onApplicationBootstrap(): void {
    this.topicSetup = this.setUpTopics();
    this.lock.on('leader', () => {
      this.metrics.leader.set({ replica: this.replica }, 1);
      this.loop ??= this.run().finally(() => {
        this.loop = undefined;
      });
    });
    this.lock.on('lost', () => {
      this.metrics.leader.set({ replica: this.replica }, 0);
      this.wake();
    });
    this.lock.on('wake', () => this.wake());
    this.lock.start();
    this.logger.log(`${this.replica} started; waiting for the lead`);
    if (this.config.OUTBOX_RETENTION_HOURS > 0) {
      this.retentionTimer = setInterval(() => {
        this.retention ??= this.retain().finally(() => {
          this.retention = undefined;
        });
      }, RETENTION_EVERY_MS);
      this.retentionTimer.unref();
    }
  }

  /**
   * Stops taking batches and lets the batch in flight finish (sent and marked), then lets go of
   * the lead. A send to a stalled Kafka is not waited for past the deadline: its rows stay
   * unmarked and the next leader publishes them (duplicates, never a loss).
   */
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.retentionTimer);
    this.wake();
    const deadline = Math.max(100, this.config.SHUTDOWN_TIMEOUT_MS - 2_000);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([this.loop, this.retention, this.topicSetup]), new Promise((r) => (timer = setTimeout(r, deadline)))]);
    clearTimeout(timer);
    await this.lock.stop();
    await this.producer.disconnect();
    await this.positions.close();
  }

  private wake(): void {
    this.pendingWake = true;
    this.wakeUp?.();
  }

  /** Waits for a write's notification, the poll interval, or shutdown. */
  private async idle(ms: number): Promise<void> {
    if (this.pendingWake || this.stopping) {
      this.pendingWake = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeUp = undefined;
    this.pendingWake = false;
  }

  /**
   * Creates the route events topic and its dead-letter topic when missing, with the configured
   * partitions, replication factor and min.insync.replicas (the only place topics are created), and
   * reports every setting of an existing topic that differs. Every replica does it at start, the
   * standbys too, so each reports what it would publish to; tried again with backoff while Kafka
   * is down or refuses (a replication factor above the brokers there are), and the leader publishes
   * nothing until it has succeeded.
   */
  private async setUpTopics(): Promise<void> {
    const specs = routeEventTopics(this.config.KAFKA_ROUTE_EVENTS_TOPIC, topicSettings(this.config));
    let backoff = 100;
    while (!this.stopping) {
      try {
        const { created, mismatches } = await ensureTopics(this.kafka, specs);
        for (const topic of created) {
          const spec = specs.find((s) => s.topic === topic);
          this.logger.log(
            `created topic ${topic} (${spec?.partitions} partitions, replication factor ${spec?.replicationFactor}, min.insync.replicas ${spec?.minInsyncReplicas})`,
          );
        }
        this.topicReport.report(specs, mismatches);
        return;
      } catch (e) {
        this.metrics.errors.inc({ stage: 'topic' });
        this.logger.warn(`creating or checking the topics failed, retrying in ${backoff} ms: ${describe(e)}`);
        await this.idleFor(backoff);
        backoff = Math.min(backoff * 2, this.config.RELAY_MAX_BACKOFF_MS);
      }
    }
  }

  private async run(): Promise<void> {
    await this.topicSetup;
    let backoff = 100;
    // The next batch, when marking the last one read it.
    let next: OutboxRow[] | undefined;
    // The last row this lead marked published (every row up to it is): reads start after it. A batch
    // may end inside a revision (a change set larger than a batch): the next goes on from that row.
    let published: OutboxCursor = OUTBOX_START;
    this.positions.reset();
    while (!this.stopping && this.lock.isLeader) {
      let stage = 'read';
      try {
        // Reads (and marks) run on the lock's own session: a read that succeeds proves the lead
        // still held just before the send (a leader whose session died must not publish, as a
        // standby may already lead), with no round trip of its own.
        const rows = fitInRequest(next ?? (await this.store.unpublished(this.config.RELAY_BATCH_SIZE, this.lock.query, published)), this.config.RELAY_BATCH_MAX_BYTES);
        next = undefined;
        if (rows.length > 0) {
          stage = 'publish';
          const delivered = await this.producer.send(
            this.config.KAFKA_ROUTE_EVENTS_TOPIC,
            rows.map((r) => ({ key: r.routeKey, value: r.payload, headers: { 'content-type': 'application/cloudevents+json' } })),
          );
          const acknowledged = Date.now();
          for (const r of rows) this.metrics.publishLatency.observe(Math.max(0, acknowledged - r.createdAt.getTime()) / 1000);
          await this.pauseBeforeMark(rows.length);
          stage = 'mark';
          // Marks the batch and reads the next one (proving the lead again) in one round trip.
          next = await this.store.markPublished(rows, this.config.RELAY_BATCH_SIZE, this.lock.query);
          published = cursorAfter(rows, published);
          await this.positions.marked(rows.map((r) => r.revision), delivered, this.lock.query);
          this.metrics.batches.inc();
          this.metrics.published.inc(rows.length);
          this.logger.debug(`published revisions ${rows[0]?.revision}..${rows[rows.length - 1]?.revision}`);
        }
        if (backoff > 100) this.logger.log('publishing again');
        backoff = 100;
        if (rows.length === 0) await this.positions.idle(this.lock.query);
        if (rows.length === 0) await this.idle(this.config.RELAY_POLL_INTERVAL_MS);
      } catch (e) {
        // A failed mark may or may not have committed: read from the start again.
        next = undefined;
        published = OUTBOX_START;
        this.positions.reset();
        // The lock's session failed: the lead is gone (LeaderLock said why); nothing to retry here.
        if (!this.lock.isLeader) break;
        this.metrics.errors.inc({ stage });
        this.logger.warn(`${stage} failed, retrying in ${backoff} ms: ${describe(e)}`);
        await this.idleFor(backoff);
        backoff = Math.min(backoff * 2, this.config.RELAY_MAX_BACKOFF_MS);
      }
    }
  }

  /** A backoff sleep that shutdown cuts short, but a write's notification does not. */
  private async idleFor(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.stopping && Date.now() < until) await this.idle(until - Date.now());
  }

  /** Fault injection for tests (RELAY_PAUSE_BEFORE_MARK_MS): a window between the ack and the mark. */
  private async pauseBeforeMark(rows: number): Promise<void> {
    const ms = Number(process.env['RELAY_PAUSE_BEFORE_MARK_MS'] ?? 0);
    if (!(ms > 0)) return;
    this.logger.log(`acknowledged ${rows} rows; pausing ${ms} ms before marking them`);
    await new Promise((r) => setTimeout(r, ms));
  }

  private async retain(): Promise<void> {
    if (!this.lock.isLeader || this.stopping) return;
    try {
      let deleted: number;
      do {
        deleted = await this.store.deletePublishedBefore(this.config.OUTBOX_RETENTION_HOURS, RETENTION_BATCH);
        this.metrics.retained.inc(deleted);
        // Whole revisions: a batch may exceed RETENTION_BATCH rows.
      } while (deleted >= RETENTION_BATCH && !this.stopping);
    } catch (e) {
      this.metrics.errors.inc({ stage: 'retention' });
      this.logger.warn(`retention failed: ${describe(e)}`);
    }
  }

  /** One backlog query per scrape (both gauges wait for it), given a second at most. */
  private collectBacklog(): Promise<void> {
    this.backlogScrape ??= (async () => {
      try {
        const backlog = await withTimeout(this.store.backlog(), 1_000, 'PostgreSQL');
        this.metrics.backlogRows.set(backlog.rows);
        this.metrics.oldestAge.set(backlog.oldestAgeSeconds);
      } catch {
        // PostgreSQL is down or slow: keep the last values; readiness says why.
      } finally {
        this.backlogScrape = undefined;
      }
    })();
    return this.backlogScrape;
  }
}
