import { IsOptional } from 'class-validator';
import { DefaultPorts } from '@tm/contracts';
import { BaseAppConfig, IsIntBetween, IsPort, IsPostgresUrl, IsRedisUrl } from '@tm/platform';

/** Every variable resolver reads, validated at start (README, "Configuration"). */
export class ResolverConfig extends BaseAppConfig {
  @IsOptional()
  @IsPort()
  RESOLVER_PORT: number = DefaultPorts.resolver;

  @IsPostgresUrl()
  DATABASE_URL!: string;

  /** Connections in this process's PostgreSQL pool. */
  @IsOptional()
  @IsIntBetween(1, 100)
  DATABASE_POOL_SIZE = 10;

  @IsRedisUrl()
  REDIS_URL!: string;
}
