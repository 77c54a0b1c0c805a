import { Controller, Get, Inject, Injectable, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiTags, type ApiPropertyOptions } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { AuthGuard, CurrentPrincipal, tenantGone, type Principal } from '@tm/auth';
import { HEALTH_CHECK_SCHEMA, routeKey, type HealthCheck, type PolicyEndpoint, type RouteId } from '@tm/contracts';
import { databaseFailure, readRouteAsOf } from '@tm/persistence';
import { ApiProblems, OverloadedException, ProblemException, UnavailableException } from '@tm/platform';
import { endpointHealth, HealthStore, NO_HEALTH, REDIS_CLIENT, RouteCache, type HealthRecords, type RedisClient } from '@tm/route-cache';
import { ResolverConfig } from '../config';
import { ResolvedEndpoint, ResolveParamsDto } from '../resolve/dto/resolve.dto';

class VerdictCountsDoc {
  @ApiProperty({ type: 'integer', description: 'fresh verdicts (one per prober replica, expiring after about three intervals)' })
  fresh!: number;

  @ApiProperty({ type: 'integer' })
  healthy!: number;

  @ApiProperty({ type: 'integer' })
  unhealthy!: number;
}

export class EndpointHealthDoc extends ResolvedEndpoint {
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'since when it has had this health; null: undecided since its health began' })
  since!: string | null;

  // Inline, so that nullable applies (a nullable $ref is not expressible in OpenAPI 3.0).
  @ApiProperty({
    type: 'object',
    nullable: true,
    description:
      "the last probe error any prober saw, and which: the failure's class and status (\"connection refused\", \"timeout after 10 s\", \"HTTP 503 (expected 200-299)\", \"refused: loopback address (PROBE_ALLOW_LOOPBACK is off)\"), never an address",
    required: ['message', 'at', 'prober'],
    properties: {
      message: { type: 'string', example: 'connection refused' },
      at: { type: 'string', format: 'date-time' },
      prober: { type: 'string', example: 'tm-health-prober-7c9f-x2' },
    },
  })
  lastError!: { message: string; at: string; prober: string } | null;

  @ApiProperty({ type: VerdictCountsDoc })
  verdicts!: VerdictCountsDoc;

  @ApiProperty({ type: 'integer', description: "the revision where this endpoint's health began (its URL or the health check last changed)" })
  healthRevision!: number;
}

export class RouteHealthDoc {
  @ApiProperty({ example: 'acme' })
  tenant!: string;

  @ApiProperty({ example: 'billing' })
  service!: string;

  @ApiProperty({ example: 'prod' })
  environment!: string;

  @ApiProperty({ type: 'integer', description: "the route's revision" })
  revision!: number;

  @ApiProperty({ description: 'false: the route has no health check (every endpoint unknown)' })
  probed!: boolean;

  @ApiProperty({ description: 'false: Redis, where health lives, did not answer (every endpoint unknown)' })
  healthAvailable!: boolean;

  @ApiProperty(HEALTH_CHECK_SCHEMA as ApiPropertyOptions)
  healthCheck!: HealthCheck | null;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    example: 10,
    description:
      "the probe timeout the probers use, in seconds, as their fresh verdicts report it (the longest, should they differ): healthCheck.timeoutSeconds, or less when that is above the interval or the probers' cap (PROBE_MAX_TIMEOUT_SECONDS, default 10), so a stored timeout above the cap is probed with the cap; null: no fresh verdict says (not probed, nothing probed yet, or Redis did not answer)",
  })
  probeTimeoutSeconds!: number | null;

  @ApiProperty({ type: [EndpointHealthDoc] })
  endpoints!: EndpointHealthDoc[];
}

@Injectable()
export class RouteHealthService {
  private readonly health: HealthStore;
  private readonly cache: RouteCache;

  constructor(
    config: ResolverConfig,
    private readonly dataSource: DataSource,
    @Inject(REDIS_CLIENT) redis: RedisClient,
  ) {
    this.health = new HealthStore(redis, config.CACHE_KEY_PREFIX, config.REDIS_COMMAND_TIMEOUT_MS);
    this.cache = new RouteCache(redis, config.CACHE_KEY_PREFIX, config.CACHE_STALE_GRACE_SECONDS * 1000, config.REDIS_COMMAND_TIMEOUT_MS);
  }

  /**
   * The route's configuration (the database; the cache while the database is unreachable) and each
   * endpoint's health. `tenantId`: the caller's key is bound to that tenant, and a route of its slug
   * under another tenant's id (a tenant deleted and created again) is not its own.
   */
  async of(id: RouteId, tenantId: string | null): Promise<RouteHealthDoc> {
    const route = await this.route(id);
    if (tenantId !== null && route.tenantId !== undefined && route.tenantId !== tenantId) throw tenantGone(id.tenant);
    let records: HealthRecords = NO_HEALTH;
    let healthAvailable = true;
    try {
      records = await this.health.read(id);
    } catch {
      healthAvailable = false;
    }
    return {
      ...id,
      revision: route.revision,
      probed: route.healthCheck !== null,
      healthAvailable,
      healthCheck: route.healthCheck,
      probeTimeoutSeconds: route.healthCheck ? probeTimeoutOf(records, route.endpoints) : null,
      endpoints: route.endpoints.map((e) => {
        const h = route.healthCheck ? endpointHealth(records, e) : { health: 'unknown' as const, since: null, lastError: null, verdicts: { fresh: 0, healthy: 0, unhealthy: 0 } };
        return { id: e.id, url: e.url, priority: e.priority, weight: e.weight, state: e.state, ...h, healthRevision: e.healthRevision };
      }),
    };
  }

  private async route(id: RouteId): Promise<{ revision: number; endpoints: PolicyEndpoint[]; healthCheck: HealthCheck | null; tenantId?: string }> {
    try {
      const snapshot = await readRouteAsOf((sql, params) => this.dataSource.query(sql, params), id);
      if (!snapshot.route) throw notFound(id);
      return snapshot.route;
    } catch (e) {
      if (e instanceof ProblemException) throw e;
      const failure = databaseFailure(this.dataSource, e);
      if (failure === 'overloaded') throw new OverloadedException('PostgreSQL');
      if (failure !== 'unreachable') throw e;
      const cached = await this.cache.read(id).catch(() => undefined);
      if (cached?.route) return cached.route;
      throw new UnavailableException('PostgreSQL');
    }
  }
}

/** The longest probe timeout the fresh verdicts of the route's endpoints (at their health revisions) report; null when none does. */
function probeTimeoutOf(records: HealthRecords, endpoints: readonly PolicyEndpoint[]): number | null {
  let longest: number | null = null;
  for (const e of endpoints) {
    for (const v of records.get(`${e.id}|${e.healthRevision}`)?.verdicts ?? []) {
      if (typeof v.timeoutSeconds === 'number' && (longest === null || v.timeoutSeconds > longest)) longest = v.timeoutSeconds;
    }
  }
  return longest;
}

function notFound(id: RouteId): ProblemException {
  return new ProblemException(404, 'Not Found', `route ${routeKey(id)} does not exist`, { code: 'route_not_found' });
}

@ApiTags('health')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/routes')
export class RouteHealthController {
  constructor(private readonly routes: RouteHealthService) {}

  @Get(':tenant/:service/:environment/health')
  @ApiOperation({ summary: "Each endpoint's health, since when, and the last probe error (routes:read on the tenant)" })
  @ApiOkResponse({ type: RouteHealthDoc })
  @ApiProblems(400, 401, 403, 404, 429, 503)
  health(@CurrentPrincipal() principal: Principal, @Param() id: ResolveParamsDto): Promise<RouteHealthDoc> {
    principal.authorize('routes:read', id.tenant);
    return this.routes.of(id, principal.tenantId);
  }
}
