import { Controller, Get, Headers, Param, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuthGuard, CurrentPrincipal, type Principal } from '@tm/auth';
import { Headers as H, routeKey, type RouteId } from '@tm/contracts';
import { ApiProblems, ProblemException } from '@tm/platform';
import { ResolvedRoute, ResolveParamsDto, ResolveQuery } from './dto/resolve.dto';
import { ResolveService, type Resolution, type Selected } from './resolve.service';

function minRevisionOf(header: string | undefined, query: number | undefined): number | undefined {
  if (header === undefined) return query;
  if (!/^\d{1,15}$/.test(header.trim())) {
    throw new ProblemException(400, 'Bad Request', 'X-Min-Revision must be a whole number', {
      code: 'validation',
      errors: [{ field: 'X-Min-Revision', message: 'X-Min-Revision must be a whole number' }],
    });
  }
  return Math.max(Number(header), query ?? 0);
}

/** The headers of an answer, 200 and 404 alike (built without spreads or computed keys: every resolve does it). */
export function cacheHeaders(r: Resolution): Record<string, string> {
  const headers: Record<string, string> = {};
  headers[H.consistencyRevision] = String(r.asOf);
  headers[H.cache] = r.cache;
  headers['cache-control'] = `max-age=${r.maxAge}`;
  if (r.age !== undefined) headers['age'] = String(r.age);
  return headers;
}

@ApiTags('resolve')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/resolve')
export class ResolveController {
  constructor(private readonly resolver: ResolveService) {}

  @Get(':tenant/:service/:environment')
  @ApiOperation({ summary: 'Which URL to call for this route (routes:read on the tenant)' })
  @ApiHeader({
    name: 'X-Min-Revision',
    required: false,
    schema: { type: 'integer', minimum: 0 },
    description: 'the answer reflects every write with revision <= N; 412 when the store is not at N yet',
  })
  @ApiOkResponse({
    type: ResolvedRoute,
    description: 'Headers: X-Route-Revision, X-Consistency-Revision, X-Cache (HIT, MISS, BYPASS, STALE), Age (HIT, STALE), Cache-Control',
  })
  @ApiProblems(400, 401, 403, 404, 412, 429, 503)
  async resolve(
    @CurrentPrincipal() principal: Principal,
    @Param() id: ResolveParamsDto,
    @Query() query: ResolveQuery,
    @Headers(H.minRevision) minRevisionHeader: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ResolvedRoute> {
    principal.authorize('routes:read', id.tenant);
    const resolution = await this.resolver.resolve(id, {
      minRevision: minRevisionOf(minRevisionHeader, query.minRevision),
      strong: query.consistency === 'strong',
      affinity: query.affinity,
      tenantId: principal.tenantId,
    });
    const headers = cacheHeaders(resolution);
    const route = resolution.route;
    if (!route) {
      throw new ProblemException(404, 'Not Found', `route ${routeKey(id)} does not exist`, { code: 'route_not_found', headers });
    }
    const selected = resolution.selected;
    if (!selected || selected.url === undefined) {
      throw new ProblemException(404, 'Not Found', `route ${routeKey(id)} has no endpoint enabled or draining`, { code: 'no_enabled_endpoint', headers });
    }
    headers[H.routeRevision] = String(route.revision);
    void reply.headers(headers);
    return answerBody(id, route.revision, selected.url, selected);
  }
}

/** The body of a 200 answer. */
export function answerBody(id: RouteId, revision: number, url: string, selected: Selected): ResolvedRoute {
  return { tenant: id.tenant, service: id.service, environment: id.environment, url, revision, failOpen: selected.failOpen, endpoints: selected.endpoints };
}
