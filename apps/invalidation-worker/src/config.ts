import { IsOptional } from 'class-validator';
import { DefaultPorts } from '@tm/contracts';
import { BaseAppConfig, IsBrokerList, IsPort, IsRedisUrl } from '@tm/platform';

/** Every variable invalidation-worker reads, validated at start (README, "Configuration"). */
export class InvalidationWorkerConfig extends BaseAppConfig {
  @IsOptional()
  @IsPort()
  INVALIDATION_WORKER_PORT: number = DefaultPorts.invalidationWorker;

  @IsRedisUrl()
  REDIS_URL!: string;

  /** Comma-separated host:port list. */
  @IsBrokerList()
  KAFKA_BROKERS!: string;
}
