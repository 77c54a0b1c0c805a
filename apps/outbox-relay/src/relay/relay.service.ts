import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { ensureTopic, KAFKA, OrderedProducer } from '@tm/messaging';
import { OutboxRelayConfig } from '../config';
import { LeaderLock } from './leader-lock';
import { OutboxStore } from './outbox-store';
import { RelayMetrics } from './relay.metrics';

const RETENTION_EVERY_MS = 60_000;
const RETENTION_BATCH = 1_000;

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
  private topicReady = false;
  private pendingWake = false;
  private wakeUp: (() => void) | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: OutboxRelayConfig,
    private readonly store: OutboxStore,
    private readonly metrics: RelayMetrics,
    @Inject(KAFKA) private readonly kafka: Kafka,
  ) {
    this.replica = config.RELAY_ID ?? `${hostname()}-${process.pid}`;
    this.lock = new LeaderLock(config.DATABASE_URL, config.RELAY_STANDBY_RETRY_MS, this.replica);
    this.producer = new OrderedProducer(kafka);
    this.metrics.leader.set({ replica: this.replica }, 0);
    this.metrics.refreshBacklog = () => this.collectBacklog();
  }

  onApplicationBootstrap(): void {
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
      this.retentionTimer = setInterval(() => void this.retain(), RETENTION_EVERY_MS);
      this.retentionTimer.unref();
    }
  }

  /** Stops taking batches, lets the batch in flight finish (sent and marked), then lets go of the lead. */
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.retentionTimer);
    this.wake();
    await this.loop;
    await this.lock.stop();
    await this.producer.disconnect();
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

  private async run(): Promise<void> {
    let backoff = 100;
    while (!this.stopping && this.lock.isLeader) {
      let stage = 'topic';
      try {
        if (!this.topicReady) {
          const created = await ensureTopic(this.kafka, {
            topic: this.config.KAFKA_ROUTE_EVENTS_TOPIC,
            partitions: this.config.KAFKA_TOPIC_PARTITIONS,
            replicationFactor: this.config.KAFKA_REPLICATION_FACTOR,
          });
          if (created) this.logger.log(`created topic ${this.config.KAFKA_ROUTE_EVENTS_TOPIC}`);
          this.topicReady = true;
        }
        stage = 'read';
        const rows = await this.store.unpublished(this.config.RELAY_BATCH_SIZE);
        if (rows.length > 0 && this.lock.isLeader) {
          stage = 'publish';
          await this.producer.send(
            this.config.KAFKA_ROUTE_EVENTS_TOPIC,
            rows.map((r) => ({ key: r.routeKey, value: r.payload, headers: { 'content-type': 'application/cloudevents+json' } })),
          );
          const acknowledged = Date.now();
          for (const r of rows) this.metrics.publishLatency.observe(Math.max(0, acknowledged - r.createdAt.getTime()) / 1000);
          await this.pauseBeforeMark(rows.length);
          stage = 'mark';
          await this.store.markPublished(rows.map((r) => r.id));
          this.metrics.batches.inc();
          this.metrics.published.inc(rows.length);
          this.logger.debug(`published revisions ${rows[0]?.revision}..${rows[rows.length - 1]?.revision}`);
        }
        if (backoff > 100) this.logger.log('publishing again');
        backoff = 100;
        if (rows.length < this.config.RELAY_BATCH_SIZE) {
          await this.idle(this.config.RELAY_POLL_INTERVAL_MS);
          await this.lock.heartbeat();
        }
      } catch (e) {
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
      } while (deleted === RETENTION_BATCH && !this.stopping);
    } catch (e) {
      this.metrics.errors.inc({ stage: 'retention' });
      this.logger.warn(`retention failed: ${describe(e)}`);
    }
  }

  private async collectBacklog(): Promise<void> {
    try {
      const backlog = await this.store.backlog();
      this.metrics.backlogRows.set(backlog.rows);
      this.metrics.oldestAge.set(backlog.oldestAgeSeconds);
    } catch {
      // PostgreSQL is down: keep the last values; readiness says why.
    }
  }
}
