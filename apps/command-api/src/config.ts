import { IsOptional, IsString, MinLength } from 'class-validator';
import { DefaultPorts } from '@tm/contracts';
import { KafkaAppConfig } from '@tm/messaging';
import { IsBrowserBaseUrl, IsConsoleDir } from './console/console-site';
import { IsCorsOriginList, IsIntBetween, IsPort, IsPostgresUrl, IsRedisUrl, IsToken } from '@tm/platform';

/**
 * Every variable command-api reads, validated at start (docs/configuration.md). The Kafka ones are
 * KafkaAppConfig's, as the relay and the worker read them: the propagation status reads the
 * worker's committed offsets on the route events topic.
 */
export class CommandApiConfig extends KafkaAppConfig {
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

  /**
   * Browser origins allowed to call this API cross-origin (the console's, when another origin serves
   * it): exact origins separated by commas, never a wildcard. Unset: no CORS headers at all.
   */
  @IsOptional()
  @IsCorsOriginList()
  CORS_ALLOWED_ORIGINS?: string;

  /**
   * The folder of the built web console (its index.html and assets/), served at /console/. Unset: the
   * `console` folder beside main.js (where nx build command-api puts it); the console is off, /console/
   * a 404, when that folder is missing. Set: it must hold index.html.
   */
  @IsOptional()
  @IsConsoleDir()
  CONSOLE_DIR?: string;

  /**
   * The resolver's base URL as a browser reaches it: the console reads it at /console/config.json, and
   * its Content-Security-Policy allows calls to that origin. Unset: the console knows no resolver.
   */
  @IsOptional()
  @IsBrowserBaseUrl()
  CONSOLE_RESOLVER_URL?: string;

  /**
   * Where the replicas reconcile their per-key request counts (RATE_LIMIT_PER_KEY). Required, but
   * not a readiness check: with Redis down, writes go on and each replica limits on its own count.
   */
  @IsRedisUrl()
  REDIS_URL!: string;

  /** Prefix of the Redis keys this app writes (the rate-limit counts); the resolver's, in one installation. */
  @IsOptional()
  @IsToken()
  CACHE_KEY_PREFIX = 'tm:';

  /** Requests per key per second to this API, across its replicas (TM_ADMIN_TOKEN is not limited); beyond, 429. */
  @IsOptional()
  @IsIntBetween(1, 1_000_000)
  RATE_LIMIT_PER_KEY = 1_000;

  /** Routes per tenant; a PUT that would create one more is a 409 (an update never is). */
  @IsOptional()
  @IsIntBetween(1, 10_000_000)
  TENANT_MAX_ROUTES = 10_000;

  /** Probed endpoints per tenant (endpoints of routes with a health check, but disabled ones); beyond, 409. */
  @IsOptional()
  @IsIntBetween(0, 1_000_000)
  TENANT_MAX_PROBED_ENDPOINTS = 256;

  /** The invalidation worker's consumer group (the worker's KAFKA_CONSUMER_GROUP): propagation reads its committed offsets. */
  @IsOptional()
  @IsToken()
  KAFKA_CONSUMER_GROUP = 'tm-invalidation-worker';

  /** A resolver replica whose watch feed was not heard from for this long is listed as not live and does not hold the propagation status back. */
  @IsOptional()
  @IsIntBetween(100, 600_000)
  PROPAGATION_REPLICA_TIMEOUT_MS = 10_000;

  /** The longest health check timeout a write may set (and the default timeout's cap), in seconds. */
  @IsOptional()
  @IsIntBetween(1, 3_600)
  PROBE_MAX_TIMEOUT_SECONDS = 10;

  /** Changes in one change set (POST /v1/changes); more: 400. A tenant deletion is exempt. */
  @IsOptional()
  @IsIntBetween(1, 100_000)
  CHANGESET_MAX_CHANGES = 1_000;

  /** The largest body of POST /v1/changes, in bytes; larger: 413. */
  @IsOptional()
  @IsIntBetween(1_024, 256 * 1024 * 1024)
  CHANGESET_MAX_BYTES = 4 * 1024 * 1024;

  /** Days a route's versions are kept (its last 100 are kept whatever their age). */
  @IsOptional()
  @IsIntBetween(1, 36_500)
  HISTORY_RETENTION_DAYS = 90;

  /** Days the audit log (change sets included) is kept. */
  @IsOptional()
  @IsIntBetween(1, 36_500)
  AUDIT_RETENTION_DAYS = 400;
}

/** The body limits the command API's handlers name (see BodyLimit). */
export const CHANGESET_BODY_LIMIT = 'changeSet';

export function commandApiBodyLimits(config: CommandApiConfig): Record<string, number> {
  return { [CHANGESET_BODY_LIMIT]: config.CHANGESET_MAX_BYTES };
}
