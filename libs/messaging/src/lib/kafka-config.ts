import { IsOptional } from 'class-validator';
import { DEFAULT_ROUTE_EVENTS_TOPIC } from '@tm/contracts';
import {
  BaseAppConfig,
  IsBooleanFlag,
  IsBrokerList,
  IsIntBetween,
  IsKafkaCaFile,
  IsKafkaSaslMechanism,
  IsToken,
  RequiredWith,
  type KafkaSaslMechanism,
} from '@tm/platform';
import type { KafkaConnectionConfig } from './kafka.module';
import { IsMinInsyncReplicas, type TopicConfig } from './topics';

/**
 * The Kafka variables of every app that talks to Kafka (the relay and the worker), validated at
 * start with the rest of the app's configuration: the brokers, TLS, SASL and the route events
 * topic with the settings it should have. An app's configuration class extends this one (an
 * inherited property is validated, and documented, as the app's own).
 */
export class KafkaAppConfig extends BaseAppConfig implements KafkaConnectionConfig, TopicConfig {
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
   * What the topic and its dead-letter topic should have: the relay creates them with these at
   * start; the worker never creates a topic. An existing topic is left as it is, and each app
   * reports a difference.
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
}
