import { Controller, Get, Headers, Param, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuthGuard, CurrentPrincipal, type Principal } from '@tm/auth';
import { Headers as H, routeKey } from '@tm/contracts';
import { ApiProblems, ProblemException } from '@tm/platform';
import { ResolvedRoute, ResolveParamsDto, ResolveQuery } from './dto/resolve.dto';
import { ResolveService, type Resolution } from './resolve.service';

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

function cacheHeaders(r: Resolution): Record<string, string> {
  return {
    [H.consistencyRevision]: String(r.asOf),
    [H.cache]: r.cache,
    'Cache-Control': `max-age=${r.maxAge}`,
    ...(r.age !== undefined ? { Age: String(r.age) } : {}),
  };
}

@ApiTags('resolve')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/resolve')
export class ResolveController {
  constructor(private readonly resolver: ResolveService) {}

  @Get(':tenant/:service/:environment')
  @ApiOperation({ summary: 'Which URL to call for this route (routes:read on the tenant)' })
  @ApiHeader({ name: 'X-Min-Revision', required: false, description: 'the answer reflects every write with revision <= N; 412 when the store is not at N yet' })
  @ApiOkResponse({
    type: ResolvedRoute,
    description: 'Headers: X-Route-Revision, X-Consistency-Revision, X-Cache (HIT, MISS, BYPASS, STALE), Age (HIT, STALE), Cache-Control',
  })
  @ApiProblems(400, 401, 403, 404, 412, 503)
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
    });
    const headers = cacheHeaders(resolution);
    if (!resolution.route) {
      throw new ProblemException(404, 'Not Found', `route ${routeKey(id)} does not exist`, { code: 'route_not_found', headers });
    }
    void reply.headers({ ...headers, [H.routeRevision]: String(resolution.route.revision) });
    return { tenant: id.tenant, service: id.service, environment: id.environment, ...resolution.route };
  }
}
