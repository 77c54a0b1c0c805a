import { IsOptional } from 'class-validator';
import { DefaultPorts } from '@tm/contracts';
import { BaseAppConfig, IsBrokerList, IsIntBetween, IsPort, IsPostgresUrl } from '@tm/platform';

/** Every variable outbox-relay reads, validated at start (README, "Configuration"). */
export class OutboxRelayConfig extends BaseAppConfig {
  @IsOptional()
  @IsPort()
  OUTBOX_RELAY_PORT: number = DefaultPorts.outboxRelay;

  @IsPostgresUrl()
  DATABASE_URL!: string;

  /** Connections in this process's PostgreSQL pool. */
  @IsOptional()
  @IsIntBetween(1, 100)
  DATABASE_POOL_SIZE = 10;

  /** Comma-separated host:port list. */
  @IsBrokerList()
  KAFKA_BROKERS!: string;
}
