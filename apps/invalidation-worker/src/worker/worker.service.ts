import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Registry } from 'prom-client';
import type { ErrorReply } from 'redis';
import { DeadLetterHeaders, deadLetterTopic, parseRouteEvent } from '@tm/contracts';
import {
  checkTopics,
  GroupConsumer,
  isKafkaUnavailable,
  KAFKA,
  kafkaErrorType,
  OrderedProducer,
  routeEventTopics,
  TopicAdmin,
  TopicReport,
  topicSettings,
  type BatchControls,
  type ConsumedBatch,
  type ConsumedMessage,
  type KafkaClient,
  type OutgoingMessage,
} from '@tm/messaging';
import { METRICS_REGISTRY, withTimeout } from '@tm/platform';
import { REDIS_CLIENT, RouteCache, type EventOutcome, type EventToApply, type RedisClient } from '@tm/route-cache';
import { InvalidationWorkerConfig } from '../config';
import { deadLetterLabel, isMessageError } from './failures';
import { OffsetCommits } from './offset-commits';
import { WorkerMetrics } from './worker.metrics';

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export type Parsed = { event: EventToApply } | { reason: string };

/** A message on its way to the dead-letter topic. */
interface DeadLetter {
  message: ConsumedMessage;
  reason: string;
  attempts: number;
  /** The script's error reply, for one that failed to apply; none for one that is not a valid event. */
  error?: ErrorReply;
}

/** The dead-letter record of a message: its own key, value and headers, and where and why it failed. */
function deadLetterRecord(batch: ConsumedBatch, { message, reason, attempts }: DeadLetter): OutgoingMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    // A header the message carries more than once is left out (one value per name here).
    if (!Array.isArray(value)) headers[name] = value.toString();
  }
  return {
    key: message.key ?? '',
    value: message.value?.toString('utf8') ?? '',
    headers: {
      ...headers,
      [DeadLetterHeaders.reason]: reason,
      [DeadLetterHeaders.attempts]: String(attempts),
      [DeadLetterHeaders.topic]: batch.topic,
      [DeadLetterHeaders.partition]: String(batch.partition),
      [DeadLetterHeaders.offset]: message.offset,
    },
  };
}

/** A message of the topic as an event to apply, or why it is not one. */
export function parseMessage(message: ConsumedMessage): Parsed {
  const value = message.value?.toString('utf8');
  if (value === undefined) return { reason: 'no value' };
  const result = parseRouteEvent(value);
  if ('error' in result) return { reason: result.error };
  if (message.key !== result.event.subject) return { reason: 'message key does not match the event subject' };
  const { data, time, tenantid } = result.event;
  return { event: tenantid === undefined ? { data, time: Date.parse(time) } : { data, time: Date.parse(time), tenantId: tenantid } };
}

/**
 * Applies route events to the cache (G4, G6): a consumer group reading the topic in batches,
 * applying each batch in one pipelined round trip of the version-gated EVENT script, and
 * committing offsets only after Redis took them (grouped: at most one commit per
 * WORKER_COMMIT_INTERVAL_MS, and always within it). Redis failing: retry the same batch with backoff,
 * never skip. A message that is not a valid event, or that Redis refuses WORKER_MESSAGE_MAX_ATTEMPTS
 * times with an error of its own (WRONGTYPE, a Lua error), goes to the dead-letter topic with the
 * reason, and the partition goes on. The worker never creates a topic: the relay does.
 */
@Injectable()
export class WorkerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Worker');
  private readonly cache: RouteCache;
  private readonly consumer: GroupConsumer;
  private readonly dlq: OrderedProducer;
  private readonly commits: OffsetCommits;
  private stopping = false;
  private starting: Promise<void> | undefined;
  private readonly topicReport: TopicReport;

  constructor(
    private readonly config: InvalidationWorkerConfig,
    private readonly metrics: WorkerMetrics,
    @Inject(KAFKA) private readonly kafka: KafkaClient,
    @Inject(REDIS_CLIENT) redis: RedisClient,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.topicReport = new TopicReport(registry, this.logger);
    this.cache = new RouteCache(redis, config.CACHE_KEY_PREFIX, config.CACHE_STALE_GRACE_SECONDS * 1000);
    this.consumer = new GroupConsumer(kafka, {
      groupId: config.KAFKA_CONSUMER_GROUP,
      // A worker that dies is noticed (and its partitions handed over) within 10 s.
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      heartbeatIntervalMs: 1_000,
      retry: { retries: 10, initialRetryTimeMs: 200, maxRetryTimeMs: config.WORKER_MAX_BACKOFF_MS, restartOnFailure: true },
    });
    this.dlq = new OrderedProducer(kafka);
    this.commits = new OffsetCommits(
      config.WORKER_COMMIT_INTERVAL_MS,
      (offsets) => this.consumer.commit(offsets),
      (e) => {
        this.metrics.errors.inc({ stage: 'commit' });
        this.logger.warn(`committing offsets failed, retrying: ${describe(e)}`);
      },
    );
    // After a rebalance the group redelivers from the committed offsets; what was pending is applied again.
    this.consumer.onGroupJoin(() => this.commits.clear());
    this.metrics.refreshLag = () => this.refreshLag();
  }

  onApplicationBootstrap(): void {
    this.starting = this.start();
  }

  /**
   * Checks the topics (reporting what differs from the configuration), then connects and subscribes;
   * retried with backoff while Kafka is not there or the relay has not created the topic yet: the
   * app is up meanwhile. The worker never creates a topic (the relay does, with the configured
   * settings), and its consumer and producer never ask the broker to.
   */
  private async start(): Promise<void> {
    const topic = this.config.KAFKA_ROUTE_EVENTS_TOPIC;
    const specs = routeEventTopics(topic, topicSettings(this.config));
    let backoff = 200;
    while (!this.stopping) {
      try {
        const mismatches = await checkTopics(this.kafka, specs);
        this.topicReport.report(specs, mismatches);
        if (mismatches.some((m) => m.topic === topic && m.setting === 'exists')) throw new Error(`topic ${topic} does not exist yet (the outbox relay creates it)`);
        await this.consumer.connect();
        await this.consumer.subscribe(this.config.KAFKA_ROUTE_EVENTS_TOPIC, { fromBeginning: true });
        // Offsets are resolved and committed by onBatch only (the consumer commits nothing by itself).
        await this.consumer.run({ autoResolve: false, partitionsConsumedConcurrently: 1, eachBatch: (batch, controls) => this.onBatch(batch, controls) });
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

  private async onBatch(batch: ConsumedBatch, { resolveOffset, heartbeat, commit, isRunning, isStale }: BatchControls): Promise<void> {
    const running = () => isRunning() && !isStale();
    const pause = async (ms: number) => {
      await heartbeat().catch(() => undefined);
      await new Promise((r) => setTimeout(r, ms));
    };
    const dead: DeadLetter[] = [];
    let pending: { message: ConsumedMessage; event: EventToApply; attempts: number }[] = [];
    for (const message of batch.messages) {
      const parsed = parseMessage(message);
      if ('event' in parsed) pending.push({ message, event: parsed.event, attempts: 0 });
      else dead.push({ message, reason: parsed.reason, attempts: 1 });
    }
    // Until every event is applied, ignored or given up on: only the ones that failed are sent again.
    let backoff = 100;
    while (pending.length > 0) {
      if (!running()) return;
      let outcomes: EventOutcome[];
      try {
        outcomes = await this.cache.applyEvents(
          pending.map((p) => p.event),
          this.config.INVALIDATION_MODE,
        );
      } catch (e) {
        // Redis unreachable, not answering, the connection closed: never the messages' fault.
        this.metrics.errors.inc({ stage: 'redis' });
        this.logger.warn(`redis failed, retrying the batch in ${backoff} ms: ${describe(e)}`);
        await pause(backoff);
        backoff = Math.min(backoff * 2, this.config.WORKER_MAX_BACKOFF_MS);
        continue;
      }
      const now = Date.now();
      const failed: typeof pending = [];
      let condition: ErrorReply | undefined;
      for (const [i, p] of pending.entries()) {
        const outcome = outcomes[i];
        if (typeof outcome === 'boolean') {
          this.metrics.events.inc({ outcome: outcome ? 'applied' : 'ignored' });
          this.metrics.applyLag.observe(Math.max(0, now - p.event.time) / 1000);
        } else if (outcome === undefined || !isMessageError(outcome)) {
          // A condition of Redis itself (loading, read-only, out of memory...): an outage, not counted.
          condition = outcome;
          failed.push(p);
        } else if (++p.attempts >= this.config.WORKER_MESSAGE_MAX_ATTEMPTS) {
          dead.push({ message: p.message, reason: outcome.message, attempts: p.attempts, error: outcome });
        } else {
          this.metrics.errors.inc({ stage: 'message' });
          this.logger.warn(
            `applying ${batch.topic}[${batch.partition}]@${p.message.offset} (key ${p.message.key}) failed, attempt ${p.attempts} of ${this.config.WORKER_MESSAGE_MAX_ATTEMPTS}: ${outcome.message}`,
          );
          failed.push(p);
        }
      }
      pending = failed;
      if (pending.length === 0) break;
      if (condition) {
        this.metrics.errors.inc({ stage: 'redis' });
        this.logger.warn(`redis refused the batch, retrying it in ${backoff} ms: ${condition.message}`);
      }
      await pause(backoff);
      backoff = Math.min(backoff * 2, this.config.WORKER_MAX_BACKOFF_MS);
    }
    for (const letter of dead) if (!(await this.deadLetter(batch, letter, running, pause))) return;
    const last = batch.messages[batch.messages.length - 1];
    if (!last) return;
    resolveOffset(last.offset);
    // Offsets are committed only now that every message was applied, ignored or dead-lettered.
    this.commits.add({ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() });
    if (this.config.WORKER_COMMIT_INTERVAL_MS === 0 || this.stopping) {
      // Committed before the batch returns: through the batch's own commit, which works while the consumer stops.
      await this.commits.flush(commit);
    }
  }

  /**
   * Writes one dead letter. While Kafka is unavailable it is tried without end (false: the batch is
   * no longer ours). When the dead-letter topic refuses it (missing, not authorised, too large: see
   * isKafkaUnavailable in @tm/messaging) it is tried WORKER_MESSAGE_MAX_ATTEMPTS times, then
   * skipped: logged at error with its partition, offset, key and reason, and counted, so that one
   * message the topic cannot take does not stall every route of its partition. The message is
   * poison already; its route is healed by its next event or by the cache TTL, and it can still be
   * read at its offset within the topic's retention.
   */
  private async deadLetter(batch: ConsumedBatch, letter: DeadLetter, running: () => boolean, pause: (ms: number) => Promise<void>): Promise<boolean> {
    const topic = deadLetterTopic(batch.topic);
    const where = `${batch.topic}[${batch.partition}]@${letter.message.offset} (key ${letter.message.key})`;
    let refusals = 0;
    let backoff = 100;
    for (;;) {
      if (!running()) return false;
      try {
        await this.dlq.send(topic, [deadLetterRecord(batch, letter)]);
        this.metrics.events.inc({ outcome: 'dead_lettered' });
        this.metrics.deadLettered.inc({ reason: deadLetterLabel(letter.error) });
        this.logger.warn(`dead-lettered ${where} after ${letter.attempts} attempt(s): ${letter.reason}`);
        return true;
      } catch (e) {
        this.metrics.errors.inc({ stage: 'dlq' });
        if (!isKafkaUnavailable(e) && ++refusals >= this.config.WORKER_MESSAGE_MAX_ATTEMPTS) {
          this.metrics.events.inc({ outcome: 'skipped' });
          this.metrics.deadLetterFailures.inc({ error: (kafkaErrorType(e) ?? 'other').toLowerCase() });
          this.logger.error(`${topic} refused the dead letter of ${where} ${refusals} times (${describe(e)}); skipping the message, which failed with: ${letter.reason}`);
          return true;
        }
        this.logger.warn(`writing the dead letter of ${where} to ${topic} failed, retrying in ${backoff} ms: ${describe(e)}`);
        await pause(backoff);
        backoff = Math.min(backoff * 2, this.config.WORKER_MAX_BACKOFF_MS);
      }
    }
  }

  private async refreshLag(): Promise<void> {
    const admin = new TopicAdmin(this.kafka);
    try {
      await withTimeout(
        (async () => {
          await admin.connect();
          const topic = this.config.KAFKA_ROUTE_EVENTS_TOPIC;
          const [ends, committed] = await Promise.all([admin.partitionBounds(topic), admin.committedOffsets(this.config.KAFKA_CONSUMER_GROUP, topic)]);
          const done = new Map(committed.map((p) => [p.partition, BigInt(p.offset === '-1' ? '0' : p.offset)]));
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
