import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { deadLetterTopic, parseRouteEvent } from '@tm/contracts';
import { ensureTopic, KAFKA, OrderedProducer } from '@tm/messaging';
import { withTimeout } from '@tm/platform';
import { REDIS_CLIENT, RouteCache, type EventToApply, type RedisClient } from '@tm/route-cache';
import { InvalidationWorkerConfig } from '../config';
import { OffsetCommits, type PartitionOffset } from './offset-commits';
import { WorkerMetrics } from './worker.metrics';

/** The header that says why a message was dead-lettered. */
export const DLQ_REASON_HEADER = 'tm-dlq-reason';

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export type Parsed = { event: EventToApply } | { reason: string };

/** kafkajs's eachBatch commit wants the offsets grouped by topic. */
function byTopic(offsets: PartitionOffset[]): { topics: { topic: string; partitions: { partition: number; offset: string }[] }[] } {
  const topics = new Map<string, { partition: number; offset: string }[]>();
  for (const { topic, partition, offset } of offsets) topics.set(topic, [...(topics.get(topic) ?? []), { partition, offset }]);
  return { topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) };
}

/** A message of the topic as an event to apply, or why it is not one. */
export function parseMessage(message: KafkaMessage): Parsed {
  const value = message.value?.toString('utf8');
  if (value === undefined) return { reason: 'no value' };
  const result = parseRouteEvent(value);
  if ('error' in result) return { reason: result.error };
  if (message.key?.toString('utf8') !== result.event.subject) return { reason: 'message key does not match the event subject' };
  return { event: { data: result.event.data, time: Date.parse(result.event.time) } };
}

/**
 * Applies route events to the cache (G4, G6): a consumer group reading the topic in batches,
 * applying each batch in one pipelined round trip of the version-gated EVENT script, and
 * committing offsets only after Redis took them (grouped: at most one commit per
 * WORKER_COMMIT_INTERVAL_MS, and always within it). Redis failing: retry the same batch with backoff,
 * never skip. A message that is not a valid event goes to the dead-letter topic with the reason.
 */
@Injectable()
export class WorkerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Worker');
  private readonly cache: RouteCache;
  private readonly consumer: Consumer;
  private readonly dlq: OrderedProducer;
  private readonly commits: OffsetCommits;
  private stopping = false;
  private starting: Promise<void> | undefined;
  private dlqReady = false;

  constructor(
    private readonly config: InvalidationWorkerConfig,
    private readonly metrics: WorkerMetrics,
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(REDIS_CLIENT) redis: RedisClient,
  ) {
    this.cache = new RouteCache(redis, config.CACHE_KEY_PREFIX, config.CACHE_STALE_GRACE_SECONDS * 1000);
    this.consumer = kafka.consumer({
      groupId: config.KAFKA_CONSUMER_GROUP,
      allowAutoTopicCreation: false,
      // A worker that dies is noticed (and its partitions handed over) within 10 s.
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 1_000,
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: config.WORKER_MAX_BACKOFF_MS, restartOnFailure: async () => true },
    });
    this.dlq = new OrderedProducer(kafka);
    this.commits = new OffsetCommits(
      config.WORKER_COMMIT_INTERVAL_MS,
      (offsets) => this.consumer.commitOffsets(offsets),
      (e) => {
        this.metrics.errors.inc({ stage: 'commit' });
        this.logger.warn(`committing offsets failed, retrying: ${describe(e)}`);
      },
    );
    // After a rebalance the group redelivers from the committed offsets; what was pending is applied again.
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => this.commits.clear());
    this.metrics.refreshLag = () => this.refreshLag();
  }

  onApplicationBootstrap(): void {
    this.starting = this.start();
  }

  /** Connects and subscribes, retrying with backoff while Kafka is not there: the app is up meanwhile (not ready). */
  private async start(): Promise<void> {
    let backoff = 200;
    while (!this.stopping) {
      try {
        await ensureTopic(this.kafka, {
          topic: this.config.KAFKA_ROUTE_EVENTS_TOPIC,
          partitions: this.config.KAFKA_TOPIC_PARTITIONS,
          replicationFactor: 1,
        }).catch((e: unknown) => {
          // Another replica (or the relay) created it a moment earlier.
          if (!/already exists/i.test(describe(e))) throw e;
        });
        await this.consumer.connect();
        await this.consumer.subscribe({ topic: this.config.KAFKA_ROUTE_EVENTS_TOPIC, fromBeginning: true });
        await this.consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: 1,
          eachBatch: (payload) => this.onBatch(payload),
        });
        this.logger.log(`consuming ${this.config.KAFKA_ROUTE_EVENTS_TOPIC} as ${this.config.KAFKA_CONSUMER_GROUP} (${this.config.INVALIDATION_MODE} mode)`);
        return;
      } catch (e) {
        this.metrics.errors.inc({ stage: 'connect' });
        this.logger.warn(`starting the consumer failed, retrying in ${backoff} ms: ${describe(e)}`);
        await this.consumer.disconnect().catch(() => undefined);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, this.config.WORKER_MAX_BACKOFF_MS);
      }
    }
  }

  private async onBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const events: EventToApply[] = [];
    const rejected: { message: KafkaMessage; reason: string }[] = [];
    for (const message of batch.messages) {
      const parsed = parseMessage(message);
      if ('event' in parsed) events.push(parsed.event);
      else rejected.push({ message, reason: parsed.reason });
    }
    const keepTrying = async (stage: string, work: () => Promise<void>): Promise<boolean> => {
      let backoff = 100;
      for (;;) {
        if (!isRunning() || isStale()) return false;
        try {
          await work();
          return true;
        } catch (e) {
          this.metrics.errors.inc({ stage });
          this.logger.warn(`${stage} failed, retrying the batch in ${backoff} ms: ${describe(e)}`);
          await heartbeat().catch(() => undefined);
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, this.config.WORKER_MAX_BACKOFF_MS);
        }
      }
    };
    if (rejected.length > 0 && !(await keepTrying('dlq', () => this.deadLetter(rejected)))) return;
    let applied: boolean[] = [];
    if (!(await keepTrying('redis', async () => void (applied = await this.cache.applyEvents(events, this.config.INVALIDATION_MODE))))) return;
    const now = Date.now();
    for (const [i, event] of events.entries()) {
      this.metrics.events.inc({ outcome: applied[i] ? 'applied' : 'ignored' });
      this.metrics.applyLag.observe(Math.max(0, now - event.time) / 1000);
    }
    this.metrics.events.inc({ outcome: 'dead_lettered' }, rejected.length);
    const last = batch.messages[batch.messages.length - 1];
    if (!last) return;
    resolveOffset(last.offset);
    // Offsets are committed only now that Redis (and the dead-letter topic) took the whole batch.
    this.commits.add({ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() });
    if (this.config.WORKER_COMMIT_INTERVAL_MS === 0 || this.stopping) {
      // Committed before the batch returns: through the batch's own commit, which works while the consumer stops.
      await this.commits.flush((offsets) => commitOffsetsIfNecessary(byTopic(offsets)));
    }
  }

  private async deadLetter(rejected: { message: KafkaMessage; reason: string }[]): Promise<void> {
    const topic = deadLetterTopic(this.config.KAFKA_ROUTE_EVENTS_TOPIC);
    if (!this.dlqReady) {
      await ensureTopic(this.kafka, { topic, partitions: 1, replicationFactor: 1 }).catch((e: unknown) => {
        if (!/already exists/i.test(describe(e))) throw e;
      });
      this.dlqReady = true;
    }
    await this.dlq.send(
      topic,
      rejected.map(({ message, reason }) => ({
        key: message.key?.toString('utf8') ?? '',
        value: message.value?.toString('utf8') ?? '',
        headers: { [DLQ_REASON_HEADER]: reason },
      })),
    );
    for (const { reason } of rejected) this.logger.warn(`dead-lettered a message: ${reason}`);
  }

  private async refreshLag(): Promise<void> {
    const admin = this.kafka.admin();
    try {
      await withTimeout(
        (async () => {
          await admin.connect();
          const topic = this.config.KAFKA_ROUTE_EVENTS_TOPIC;
          const [ends, committed] = await Promise.all([
            admin.fetchTopicOffsets(topic),
            admin.fetchOffsets({ groupId: this.config.KAFKA_CONSUMER_GROUP, topics: [topic] }),
          ]);
          const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset === '-1' ? '0' : p.offset)]));
          for (const end of ends) {
            const lag = BigInt(end.high) - (done.get(end.partition) ?? 0n);
            this.metrics.consumerLag.set({ partition: String(end.partition) }, Number(lag < 0n ? 0n : lag));
          }
        })(),
        2_000,
        'Kafka',
      );
    } catch {
      this.metrics.errors.inc({ stage: 'lag' });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /**
   * Stops consuming: applied offsets not yet committed are committed, the batch in flight finishes
   * (and commits its own), then the consumer leaves the group.
   */
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.starting;
    // Bounded: with Kafka gone, what stays uncommitted is redelivered (applying is idempotent).
    await withTimeout(this.commits.flush(), 2_000, 'Kafka').catch((e: unknown) => this.logger.warn(`committing offsets at shutdown failed: ${describe(e)}`));
    await this.consumer.disconnect();
    this.commits.stop();
    await this.dlq.disconnect();
  }
}
