import { IsOptional, IsString, MinLength } from 'class-validator';
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

  /** A token that acts as an admin key; unset: only stored keys authenticate. */
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'expected at least 16 characters' })
  TM_ADMIN_TOKEN?: string;
}
