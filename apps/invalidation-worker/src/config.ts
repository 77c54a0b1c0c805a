import { IsIn, IsOptional } from 'class-validator';
import { DefaultPorts } from '@tm/contracts';
import { KafkaAppConfig } from '@tm/messaging';
import { IsIntBetween, IsPort, IsRedisUrl, IsToken } from '@tm/platform';

/**
 * Every variable invalidation-worker reads, validated at start (docs/configuration.md); the Kafka
 * ones (brokers, TLS, SASL, the topic and its settings) are KafkaAppConfig's, shared with the relay.
 */
export class InvalidationWorkerConfig extends KafkaAppConfig {
  @IsOptional()
  @IsPort()
  INVALIDATION_WORKER_PORT: number = DefaultPorts.invalidationWorker;

  @IsRedisUrl()
  REDIS_URL!: string;

  @IsOptional()
  @IsToken()
  KAFKA_CONSUMER_GROUP = 'tm-invalidation-worker';

  /** Prefix of every cache key (tests use their own). */
  @IsOptional()
  @IsToken()
  CACHE_KEY_PREFIX = 'tm:';

  /** refresh: an event replaces the cached answer; invalidate: it marks it not fresh. */
  @IsOptional()
  @IsIn(['refresh', 'invalidate'], { message: 'expected refresh or invalidate' })
  INVALIDATION_MODE: 'refresh' | 'invalidate' = 'refresh';

  /** Redis expiry of a cache entry: how long it can still be served as STALE while PostgreSQL is down. */
  @IsOptional()
  @IsIntBetween(1, 30 * 86_400)
  CACHE_STALE_GRACE_SECONDS = 86_400;

  /**
   * Tries of one message that Redis answers with an error of its own (WRONGTYPE, a Lua error), and
   * of writing one dead letter that Kafka refuses (topic missing, not authorised, too large), before
   * the worker dead-letters the message, or gives up on the dead letter, and goes on. An outage
   * (Redis or Kafka unreachable, not answering) is retried without end.
   */
  @IsOptional()
  @IsIntBetween(1, 100)
  WORKER_MESSAGE_MAX_ATTEMPTS = 5;

  /** Longest wait between two tries while Redis or Kafka fails (backoff doubles up to it). */
  @IsOptional()
  @IsIntBetween(100, 300_000)
  WORKER_MAX_BACKOFF_MS = 5_000;

  /**
   * Offsets of applied batches are committed at most this often (one OffsetCommit, a broker write,
   * per interval instead of per batch), and always within it; 0: after every batch. Applying is
   * idempotent, so a crash only redelivers what the interval had not committed.
   */
  @IsOptional()
  @IsIntBetween(0, 10_000)
  WORKER_COMMIT_INTERVAL_MS = 200;

  /**
   * When a Redis master turns out to be a new process (a restart, a failover), or the replay marker
   * is gone (Redis lost its data), the events published from this long before the masters were
   * last seen unchanged are applied again: they may be lost (0: never replay). Longer than a
   * failover takes plus the worker's usual lag.
   */
  @IsOptional()
  @IsIntBetween(0, 86_400)
  WORKER_REPLAY_WINDOW_SECONDS = 300;

  /** How often the worker checks which Redis processes are the masters (INFO server run_id) against the replay marker. */
  @IsOptional()
  @IsIntBetween(100, 60_000)
  WORKER_REDIS_CHECK_INTERVAL_MS = 1_000;
}
