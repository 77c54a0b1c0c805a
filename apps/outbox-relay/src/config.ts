import { IsOptional, IsString, MaxLength } from 'class-validator';
import { DefaultPorts } from '@tm/contracts';
import { KafkaAppConfig } from '@tm/messaging';
import { IsIntBetween, IsPort, IsPostgresUrl } from '@tm/platform';

/**
 * Every variable outbox-relay reads, validated at start (docs/configuration.md); the Kafka ones
 * (brokers, TLS, SASL, the topic and its settings) are KafkaAppConfig's, shared with the worker.
 */
export class OutboxRelayConfig extends KafkaAppConfig {
  @IsOptional()
  @IsPort()
  OUTBOX_RELAY_PORT: number = DefaultPorts.outboxRelay;

  @IsPostgresUrl()
  DATABASE_URL!: string;

  /** Connections in this process's PostgreSQL pool (the leader lock has one more of its own). */
  @IsOptional()
  @IsIntBetween(1, 100)
  DATABASE_POOL_SIZE = 4;

  /** Outbox rows published per Kafka request. */
  @IsOptional()
  @IsIntBetween(1, 10_000)
  RELAY_BATCH_SIZE = 500;

  /** Bytes of event payload per Kafka request (below the broker's message.max.bytes, 1 MiB by default). */
  @IsOptional()
  @IsIntBetween(10_000, 100_000_000)
  RELAY_BATCH_MAX_BYTES = 512 * 1024;

  /** The safety-net poll, for a notification that was lost; writes wake the relay at once. */
  @IsOptional()
  @IsIntBetween(50, 60_000)
  RELAY_POLL_INTERVAL_MS = 1_000;

  /** How often a standby replica tries to take the lead. */
  @IsOptional()
  @IsIntBetween(50, 60_000)
  RELAY_STANDBY_RETRY_MS = 1_000;

  /** Longest wait between two tries while Kafka or PostgreSQL fails (backoff doubles up to it). */
  @IsOptional()
  @IsIntBetween(100, 300_000)
  RELAY_MAX_BACKOFF_MS = 5_000;

  /** Published rows older than this are deleted, never the newest 10,000 (the watch's history; 0: never). */
  @IsOptional()
  @IsIntBetween(0, 8_760)
  OUTBOX_RETENTION_HOURS = 24;

  /** This replica's name in logs and metrics (default: host name and pid). */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  RELAY_ID?: string;
}
