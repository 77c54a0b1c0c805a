import { IsOptional } from 'class-validator';
import { DefaultPorts } from '@tm/contracts';
import { BaseAppConfig, IsIntBetween, IsPort, IsPostgresUrl } from '@tm/platform';

/** Every variable command-api reads, validated at start (README, "Configuration"). */
export class CommandApiConfig extends BaseAppConfig {
  @IsOptional()
  @IsPort()
  COMMAND_API_PORT: number = DefaultPorts.commandApi;

  @IsPostgresUrl()
  DATABASE_URL!: string;

  /** Connections in this process's PostgreSQL pool. */
  @IsOptional()
  @IsIntBetween(1, 100)
  DATABASE_POOL_SIZE = 10;
}
