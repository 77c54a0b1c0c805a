import { IsOptional, IsString, MaxLength, MinLength, ValidateBy } from 'class-validator';
import { DEFAULT_DNS_PORT, DefaultPorts } from '@tm/contracts';
import { isZoneName } from './dns/dns-names';
import { BaseAppConfig, IsCorsOriginList, IsIntBetween, IsPort, IsPostgresUrl, IsPostgresUrlList, IsRedisUrl, IsToken } from '@tm/platform';

/** Every variable resolver reads, validated at start (docs/configuration.md). */
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

  /**
   * PostgreSQL streaming replicas for the read tier: one or more URLs separated by commas. Misses,
   * strong reads, watch snapshots and resumes from before memory go to a replica that has replayed
   * the (primary's) revision they need, else to the primary. Unset: every read goes to the primary.
   */
  @IsOptional()
  @IsPostgresUrlList()
  DATABASE_READ_URL?: string;

  /** Connections in this process's pool to each replica. */
  @IsOptional()
  @IsIntBetween(1, 100)
  DATABASE_READ_POOL_SIZE = 10;

  /** Per-statement timeout of a read on a replica: past it the primary serves the read. */
  @IsOptional()
  @IsIntBetween(10, 10_000)
  DATABASE_READ_TIMEOUT_MS = 500;

  @IsRedisUrl()
  REDIS_URL!: string;

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

  /** Prefix of every cache key; the worker must use the same. */
  @IsOptional()
  @IsToken()
  CACHE_KEY_PREFIX = 'tm:';

  /** This replica's name in the propagation status (GET /v1/revisions/{R} on the command API); default: host name and pid. */
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  RESOLVER_REPLICA_ID?: string;

  /** Requests per key per second to this API, across its replicas (TM_ADMIN_TOKEN is not limited); beyond, 429. */
  @IsOptional()
  @IsIntBetween(1, 1_000_000)
  RATE_LIMIT_PER_KEY = 1_000;

  /** How long a cached answer is served (G3: never above 60 s). */
  @IsOptional()
  @IsIntBetween(1, 60)
  CACHE_TTL_SECONDS = 60;

  /** How long a "no such route" answer is served (at most 5 s). */
  @IsOptional()
  @IsIntBetween(1, 5)
  CACHE_NEGATIVE_TTL_SECONDS = 5;

  /**
   * Routes whose answers this replica keeps in memory, current as long as its change feed proves them
   * (docs/cache-protocol.md, "The resolver's memory"): a hit then needs no Redis round trip. 0: off
   * (every answer asks Redis).
   */
  @IsOptional()
  @IsIntBetween(0, 10_000_000)
  CACHE_LOCAL_MAX_ROUTES = 100_000;

  /**
   * How long memory keeps a probed route's health votes before asking Redis again (ms). A prober's
   * change of the route's health drops them at once (pub/sub); this bounds what no message announces
   * (verdicts expiring). 0: answers of probed routes always read their health from Redis.
   */
  @IsOptional()
  @IsIntBetween(0, 5_000)
  CACHE_LOCAL_HEALTH_MS = 250;

  /** Redis expiry of an entry: how long it may be served as STALE while PostgreSQL is down. */
  @IsOptional()
  @IsIntBetween(1, 30 * 86_400)
  CACHE_STALE_GRACE_SECONDS = 86_400;

  /** How long a verified API key is trusted without asking PostgreSQL (a revoked key works at most this long). */
  @IsOptional()
  @IsIntBetween(0, 60_000)
  AUTH_CACHE_TTL_MS = 5_000;

  /**
   * While PostgreSQL is unreachable, a stored key that a replica verified less than this long ago still
   * authenticates (kept in Redis); past it, 503 (0: off).
   */
  @IsOptional()
  @IsIntBetween(0, 30 * 86_400)
  AUTH_STALE_GRACE_SECONDS = 3_600;

  /** Timeout of one Redis command on the hot path: past it the answer comes from PostgreSQL. */
  @IsOptional()
  @IsIntBetween(5, 5_000)
  REDIS_COMMAND_TIMEOUT_MS = 100;

  /** Consecutive Redis failures that open the circuit breaker (Redis is then skipped). */
  @IsOptional()
  @IsIntBetween(1, 1_000)
  REDIS_BREAKER_THRESHOLD = 5;

  /** How long the breaker stays open before one request tries Redis again. */
  @IsOptional()
  @IsIntBetween(100, 300_000)
  REDIS_BREAKER_OPEN_MS = 2_000;

  /** The most time between two bookmarks of a watch stream (its heartbeat); clients treat 3 missed as down. */
  @IsOptional()
  @IsIntBetween(200, 60_000)
  WATCH_BOOKMARK_INTERVAL_MS = 5_000;

  /** Events a watch client may leave unread before it is disconnected (it resumes). */
  @IsOptional()
  @IsIntBetween(10, 1_000_000)
  WATCH_MAX_BUFFERED_EVENTS = 10_000;

  /** Open watch streams on this replica; beyond, 503 with Retry-After. */
  @IsOptional()
  @IsIntBetween(1, 1_000_000)
  WATCH_MAX_STREAMS = 10_000;

  /** Open watch streams of one key on this replica; beyond, 429 watch_stream_quota (TM_ADMIN_TOKEN's count only toward WATCH_MAX_STREAMS). */
  @IsOptional()
  @IsIntBetween(1, 1_000_000)
  WATCH_MAX_STREAMS_PER_KEY = 1_000;

  /** Open watch streams of one tenant on this replica; beyond, 429 watch_stream_quota. */
  @IsOptional()
  @IsIntBetween(1, 1_000_000)
  WATCH_MAX_STREAMS_PER_TENANT = 2_000;

  /** A watch stream whose client takes nothing for this long is cut (it resumes); a snapshot not read within it too. */
  @IsOptional()
  @IsIntBetween(100, 600_000)
  WATCH_MAX_CONGESTED_MS = 30_000;

  /** How often the watch's feed reads the outbox when no write woke it: how fresh a quiet stream's bookmarks are. */
  @IsOptional()
  @IsIntBetween(50, 5_000)
  WATCH_FEED_POLL_MS = 1_000;

  /** DNS (docs/dns.md): the UDP and TCP port; 0 turns DNS off. */
  @IsOptional()
  @IsIntBetween(0, 65_535)
  RESOLVER_DNS_PORT = DEFAULT_DNS_PORT;

  /** The zone DNS answers: routes are named `<environment>.<service>.<tenant>.<DNS_ZONE>`. */
  @IsOptional()
  @IsDnsName()
  DNS_ZONE = 'tm.internal.';

  /** The name the zone's NS and SOA give as its server; default: the zone's apex itself. */
  @IsOptional()
  @IsDnsName()
  DNS_NS_NAME?: string;

  /** The TTL of DNS answers (s), never above the answer's freshness left (G3 through DNS caches). */
  @IsOptional()
  @IsIntBetween(0, 60)
  DNS_TTL_SECONDS = 5;

  /** A DNS connection over TCP with nothing read for this long, or a message begun and not whole within it, is closed (ms). */
  @IsOptional()
  @IsIntBetween(500, 120_000)
  DNS_TCP_IDLE_MS = 10_000;

  /** DNS answers per second to one source address over UDP (response rate limiting); 0: off. */
  @IsOptional()
  @IsIntBetween(0, 1_000_000)
  DNS_RRL_PER_SECOND = 0;
}

/** A DNS name of letters, digits and hyphens (`tm.internal.`; the final dot is optional). */
function IsDnsName(): PropertyDecorator {
  return (target, key) =>
    ValidateBy({ name: 'isDnsName', validator: { validate: (v: unknown) => typeof v === 'string' && isZoneName(v), defaultMessage: () => 'expected a DNS name such as tm.internal. (labels of letters, digits and hyphens)' } })(target, key);
}
