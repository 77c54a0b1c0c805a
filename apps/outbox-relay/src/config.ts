import { IsOptional, IsString, MaxLength } from 'class-validator';
import { DEFAULT_ROUTE_EVENTS_TOPIC, DefaultPorts } from '@tm/contracts';
import { IsMinInsyncReplicas } from '@tm/messaging';
import {
  BaseAppConfig,
  IsBooleanFlag,
  IsBrokerList,
  IsIntBetween,
  IsKafkaSaslMechanism,
  IsPort,
  IsPostgresUrl,
  IsKafkaCaFile,
  IsToken,
  RequiredWith,
  type KafkaSaslMechanism,
} from '@tm/platform';

/** Every variable outbox-relay reads, validated at start (README, "Configuration"). */
export class OutboxRelayConfig extends BaseAppConfig {
  @IsOptional()
  @IsPort()
  OUTBOX_RELAY_PORT: number = DefaultPorts.outboxRelay;

  @IsPostgresUrl()
  DATABASE_URL!: string;

  /** Connections in this process's PostgreSQL pool (the leader lock has one more of its own). */
  @IsOptional()
  @IsIntBetween(1, 100)
  DATABASE_POOL_SIZE = 4;

  /** Comma-separated host:port list. */
  @IsBrokerList()
  KAFKA_BROKERS!: string;

  /** TLS to the brokers. */
  @IsOptional()
  @IsBooleanFlag()
  KAFKA_SSL = false;

  /** A PEM file of the CA that signed the brokers' certificates (default: the system's CAs); needs KAFKA_SSL. */
  @IsOptional()
  @IsKafkaCaFile()
  KAFKA_SSL_CA_FILE?: string;

  /** Refuse a broker certificate that does not verify (false: only for a test cluster). */
  @IsOptional()
  @IsBooleanFlag()
  KAFKA_SSL_REJECT_UNAUTHORIZED = true;

  /** plain, scram-sha-256 or scram-sha-512; with it, the user name and password are required. */
  @IsKafkaSaslMechanism()
  KAFKA_SASL_MECHANISM?: KafkaSaslMechanism;

  @RequiredWith(['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_PASSWORD'], 'the SASL user name')
  KAFKA_SASL_USERNAME?: string;

  /** A secret (from the Secret in Kubernetes): never logged, never echoed in a configuration error. */
  @RequiredWith(['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME'], 'the SASL password')
  KAFKA_SASL_PASSWORD?: string;

  @IsOptional()
  @IsToken()
  KAFKA_ROUTE_EVENTS_TOPIC = DEFAULT_ROUTE_EVENTS_TOPIC;

  /**
   * The relay creates the topic and its dead-letter topic at start with these (an existing topic is
   * left as it is, and a difference is reported).
   */
  @IsOptional()
  @IsIntBetween(1, 1000)
  KAFKA_TOPIC_PARTITIONS = 6;

  @IsOptional()
  @IsIntBetween(1, 10)
  KAFKA_REPLICATION_FACTOR = 1;

  /** The topics' min.insync.replicas (default: 2 from a replication factor of 3 on, else 1). */
  @IsOptional()
  @IsMinInsyncReplicas()
  KAFKA_MIN_INSYNC_REPLICAS?: number;

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
