import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { KAFKA, readTopicRanges, TopicAdmin, type KafkaClient, type PartitionBounds, type PartitionPosition, type PartitionRange } from '@tm/messaging';
import { REDIS_CLIENT, ReplayMarker, RouteCache, type DueReplay, type EventToApply, type RedisClient } from '@tm/route-cache';
import { InvalidationWorkerConfig } from '../config';
import { parseMessage } from './worker.service';
import { WorkerMetrics } from './worker.metrics';

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const REASONS: Record<DueReplay['reason'], string> = {
  'new-master': 'a Redis master is a new process (restart or failover)',
  missing: 'the replay marker is not in Redis (Redis lost its data, or a first start)',
  pending: 'a replay is pending (its worker stopped before it was done)',
};

/**
 * Redis losing data must not leave the cache behind the database (G6). The resolver's fills are
 * guarded by their lease (libs/route-cache scripts); what remains is events the worker applied and
 * committed that a failover to a lagging replica lost: the replica keeps older answers, and no
 * event will come to replace them. So the worker compares the Redis processes that are the masters
 * (RedisNodeIdentity) with the replay marker in Redis (ReplayMarker, `<prefix>replay-marker`: the
 * masters every worker last saw) at start and every WORKER_REDIS_CHECK_INTERVAL_MS. A marker that is
 * gone, that does not hold a master, or that is still pending makes a replay due: the marker is
 * marked pending first, every event published from WORKER_REPLAY_WINDOW_SECONDS before the masters
 * were last seen unchanged is applied again, on all partitions, with a consumer group of its own
 * beside the worker's (readTopicRanges), and only then is the marker done. So a worker that starts
 * after a loss replays too, and one that dies mid-replay leaves it pending for the next look of any
 * worker. Applying is idempotent and version-gated, so a replay beside the normal flow (or two at
 * once, by two workers) is safe, and a replay for nothing only costs time.
 */
@Injectable()
export class LossReplayService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Replay');
  private readonly marker: ReplayMarker;
  private readonly cache: RouteCache;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly config: InvalidationWorkerConfig,
    private readonly metrics: WorkerMetrics,
    @Inject(KAFKA) private readonly kafka: KafkaClient,
    @Inject(REDIS_CLIENT) redis: RedisClient,
  ) {
    this.marker = new ReplayMarker(redis, config.CACHE_KEY_PREFIX);
    this.cache = new RouteCache(redis, config.CACHE_KEY_PREFIX, config.CACHE_STALE_GRACE_SECONDS * 1000);
  }

  onApplicationBootstrap(): void {
    if (this.config.WORKER_REPLAY_WINDOW_SECONDS === 0) return;
    // The first look at once: a loss while no worker ran is seen at start.
    this.schedule(0);
  }

  private schedule(delayMs = this.config.WORKER_REDIS_CHECK_INTERVAL_MS): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    let due: DueReplay | undefined;
    try {
      due = await this.marker.check(randomUUID());
    } catch {
      // Redis unreachable: nothing is applied meanwhile either; look again next time.
      return;
    }
    if (!due) return;
    this.logger.warn(`${REASONS[due.reason]}: replaying the recent events`);
    try {
      const events = await this.replay(Math.min(Date.now(), due.confirmedAt) - this.config.WORKER_REPLAY_WINDOW_SECONDS * 1000);
      // Not done (Redis down again, or another loss marked it meanwhile): the next look replays again.
      await this.marker.done(due.token).catch(() => false);
      this.metrics.replays.inc({ outcome: 'done' });
      this.logger.log(`replayed ${events} events`);
    } catch (e) {
      this.metrics.replays.inc({ outcome: 'failed' });
      this.logger.warn(`replaying the recent events failed, trying again: ${describe(e)}`);
    }
  }

  /** Applies every event published since `since` (ms), up to the end of the topic now; resolves the count. */
  private async replay(since: number): Promise<number> {
    const topic = this.config.KAFKA_ROUTE_EVENTS_TOPIC;
    const admin = new TopicAdmin(this.kafka);
    await admin.connect();
    let from: PartitionPosition[];
    let ends: PartitionBounds[];
    try {
      // No topic yet (a first install, before the relay made it): no event was ever published.
      if (!(await admin.listTopics()).includes(topic)) return 0;
      [from, ends] = await Promise.all([admin.offsetsAtTime(topic, since), admin.partitionBounds(topic)]);
    } finally {
      await admin.disconnect();
    }
    // From the first offset at or after `since` (-1: nothing since) to the end offset now.
    const todo: PartitionRange[] = [];
    for (const { partition, high } of ends) {
      const first = from.find((f) => f.partition === partition)?.offset ?? '-1';
      const start = first === '-1' ? BigInt(high) : BigInt(first);
      if (start < BigInt(high)) todo.push({ partition, start, end: BigInt(high) });
    }
    let applied = 0;
    await readTopicRanges(
      this.kafka,
      topic,
      todo,
      async (_partition, messages) => {
        const events: EventToApply[] = [];
        for (const message of messages) {
          const parsed = parseMessage(message);
          if ('event' in parsed) events.push(parsed.event);
        }
        const outcome = await this.cache.applyEvents(events, this.config.INVALIDATION_MODE);
        applied += events.length;
        this.metrics.events.inc({ outcome: 'replayed' }, outcome.filter(Boolean).length);
        return false;
      },
      { groupId: `${this.config.KAFKA_CONSUMER_GROUP}.replay.${randomUUID()}`, timeoutMs: 120_000 },
    );
    return applied;
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
