import {
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Kafka, logLevel, type Admin, type logCreator } from 'kafkajs';
import { withTimeout, type ReadinessCheck } from '@tm/platform';

/** The kafkajs client; keep kafkajs behind this lib so that it can be swapped. */
export const KAFKA = Symbol('KAFKA');

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
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

export function createKafka(options: KafkaOptions): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: 2_000,
    requestTimeout: 10_000,
    logLevel: logLevel.WARN,
    logCreator: nestLogCreator,
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 5 },
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

  constructor(@Inject(KAFKA) private readonly kafka: Kafka) {}

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
