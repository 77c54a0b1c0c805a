import {
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type Admin, type logCreator, type SASLOptions } from 'kafkajs';
import { withTimeout, type KafkaSaslMechanism, type ReadinessCheck } from '@tm/platform';

/** The kafkajs client; keep kafkajs behind this lib so that it can be swapped. */
export const KAFKA = Symbol('KAFKA');

/**
 * The Kafka client that KAFKA provides. Apps hand it to this lib's producer, consumer and admin
 * (OrderedProducer, GroupConsumer, TopicAdmin, readTopicRanges, checkTopics) and call nothing on it.
 */
export type KafkaClient = Kafka;

/** TLS to the brokers: a private CA (PEM) and whether a certificate that does not verify is refused. */
export interface KafkaTls {
  ca?: string;
  rejectUnauthorized: boolean;
}

export interface KafkaSasl {
  mechanism: KafkaSaslMechanism;
  username: string;
  password: string;
}

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  /** TLS (default: plaintext). */
  tls?: KafkaTls;
  /** SASL authentication (default: none). */
  sasl?: KafkaSasl;
}

/** The Kafka variables of an app's configuration class (docs/configuration.md), validated at start. */
export interface KafkaConnectionConfig {
  KAFKA_BROKERS: string;
  KAFKA_SSL: boolean;
  KAFKA_SSL_CA_FILE?: string;
  KAFKA_SSL_REJECT_UNAUTHORIZED: boolean;
  KAFKA_SASL_MECHANISM?: KafkaSaslMechanism;
  KAFKA_SASL_USERNAME?: string;
  KAFKA_SASL_PASSWORD?: string;
}

/** The client options of a validated configuration (the CA file is read here, once). */
export function kafkaOptions(config: KafkaConnectionConfig, clientId: string): KafkaOptions {
  const options: KafkaOptions = { brokers: parseBrokers(config.KAFKA_BROKERS), clientId };
  if (config.KAFKA_SSL) {
    options.tls = { rejectUnauthorized: config.KAFKA_SSL_REJECT_UNAUTHORIZED };
    if (config.KAFKA_SSL_CA_FILE !== undefined) options.tls.ca = readFileSync(config.KAFKA_SSL_CA_FILE, 'utf8');
  }
  if (config.KAFKA_SASL_MECHANISM !== undefined) {
    // The configuration class requires both with a mechanism.
    options.sasl = { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME ?? '', password: config.KAFKA_SASL_PASSWORD ?? '' };
  }
  return options;
}

/** kafkajs's SASL options (its types tie each mechanism to its own shape). */
function saslOptions(sasl: KafkaSasl): SASLOptions {
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username: sasl.username, password: sasl.password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password };
  }
}

/** kafkajs log lines go through the app's logger (JSON, with the app name). */
const nestLogCreator: logCreator = () => {
  const logger = new Logger('kafkajs');
  return ({ level, log }) => {
    const { message, ...extra } = log;
    const line = `${message} ${JSON.stringify(extra)}`;
    if (level === logLevel.ERROR) logger.error(line);
    else if (level === logLevel.WARN) logger.warn(line);
    else if (level === logLevel.INFO) logger.log(line);
    else logger.debug(line);
  };
};

export function createKafka(options: KafkaOptions): KafkaClient {
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: 2_000,
    requestTimeout: 10_000,
    logLevel: logLevel.WARN,
    logCreator: nestLogCreator,
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 5 },
    ...(options.tls ? { ssl: { rejectUnauthorized: options.tls.rejectUnauthorized, ...(options.tls.ca ? { ca: [options.tls.ca] } : {}) } } : {}),
    ...(options.sasl ? { sasl: saslOptions(options.sasl) } : {}),
  });
}

export function parseBrokers(list: string): string[] {
  return list
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
}

/** Ready when the cluster answers a metadata request within two seconds. */
@Injectable()
export class KafkaReadiness implements ReadinessCheck, OnApplicationShutdown {
  readonly name = 'kafka';
  private admin: Admin | undefined;

  constructor(@Inject(KAFKA) private readonly kafka: KafkaClient) {}

  async check(): Promise<void> {
    await withTimeout(this.describe(), 2_000, 'Kafka');
  }

  private async describe(): Promise<void> {
    this.admin ??= this.kafka.admin({ retry: { retries: 0 } });
    try {
      await this.admin.connect();
      await this.admin.describeCluster();
    } catch (e) {
      const admin = this.admin;
      this.admin = undefined;
      await admin.disconnect().catch(() => undefined);
      throw e;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.admin) await withTimeout(this.admin.disconnect(), 1_000, 'Kafka').catch(() => undefined);
  }
}

@Module({})
export class KafkaModule {
  static forRoot(options: KafkaOptions): DynamicModule {
    return {
      module: KafkaModule,
      global: true,
      providers: [{ provide: KAFKA, useValue: createKafka(options) }, KafkaReadiness],
      exports: [KAFKA, KafkaReadiness],
    };
  }
}
