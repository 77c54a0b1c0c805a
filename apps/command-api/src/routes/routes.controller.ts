import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Put, Query, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiCreatedResponse, ApiNoContentResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuthGuard, CurrentPrincipal, type Principal } from '@tm/auth';
import { Headers as H } from '@tm/contracts';
import { ApiProblems, BodyLimit, ROUTE_PUT_BODY_LIMIT_BYTES } from '@tm/platform';
import { CommandApiConfig } from '../config';
import { OriginOf, type ChangeOrigin } from '../store/change-origin';
import { DeletedWithPropagationResponse, RouteWithPropagationResponse } from '../propagation/dto/propagation.response';
import { WaitQuery } from '../propagation/dto/wait.query';
import { PropagationService } from '../propagation/propagation.service';
import { ListRoutesQuery } from './dto/list-routes.query';
import { PutRouteDto } from './dto/put-route.dto';
import { RouteParamsDto } from './dto/route-params.dto';
import { RouteListResponse, RouteResponse } from './dto/route.response';
import { policyOfBody } from './policy';
import { etag, parsePreconditions } from './preconditions';
import { RoutesService } from './routes.service';
import { RefusedWrites } from '../audit/refused-writes.interceptor';

@ApiTags('routes')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@ApiProblems(401, 403, 429, 503)
@Controller('v1/routes')
export class RoutesController {
  constructor(
    private readonly routes: RoutesService,
    private readonly config: CommandApiConfig,
    private readonly propagation: PropagationService,
  ) {}

  @Put(':tenant/:service/:environment')
  @UseInterceptors(RefusedWrites)
  @BodyLimit(ROUTE_PUT_BODY_LIMIT_BYTES)
  @ApiOperation({
    summary: 'Create or update a route (creates its tenant and service when absent)',
    description:
      'The body is {"url"} (one endpoint, id "default") or {"endpoints": [...]}, either with an optional healthCheck; at most 64 KiB. ' +
      "409 tenant_route_quota: a new route beyond the tenant's TENANT_MAX_ROUTES; 409 tenant_probe_quota: probed endpoints beyond its TENANT_MAX_PROBED_ENDPOINTS.",
  })
  @ApiHeader({ name: 'If-Match', required: false, description: '"<revision>" (or *): 412 unless the route is at that revision' })
  @ApiHeader({ name: 'If-None-Match', required: false, description: '* (412 when the route exists) or "<revision>" list (412 when it is at one)' })
  @ApiCreatedResponse({ type: RouteWithPropagationResponse, description: 'Created; ETag and X-Route-Revision carry the revision (propagation: with ?wait=in-sync)' })
  @ApiOkResponse({ type: RouteWithPropagationResponse, description: 'Updated (or unchanged: same policy, same revision, no event; a wait waits for that revision)' })
  @ApiProblems(400, 409, 412, 413, 415)
  async put(
    @CurrentPrincipal() principal: Principal,
    @OriginOf() origin: ChangeOrigin,
    @Param() id: RouteParamsDto,
    @Body() body: PutRouteDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Query() wait: WaitQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RouteWithPropagationResponse> {
    principal.authorize('routes:write', id.tenant);
    const preconditions = parsePreconditions(ifMatch, ifNoneMatch);
    const { route, created } = await this.routes.put(id, policyOfBody(body, this.config.PROBE_MAX_TIMEOUT_SECONDS), preconditions, origin);
    void reply
      .status(created ? 201 : 200)
      .header('ETag', etag(route.revision))
      .header(H.routeRevision, String(route.revision));
    if (created) void reply.header('Location', `/v1/routes/${id.tenant}/${id.service}/${id.environment}`);
    return this.propagation.withPropagation(wait, route);
  }

  @Get(':tenant/:service/:environment')
  @ApiOperation({ summary: 'Read a route from the database' })
  @ApiOkResponse({ type: RouteResponse })
  @ApiProblems(400, 404)
  async get(
    @CurrentPrincipal() principal: Principal,
    @Param() id: RouteParamsDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RouteResponse> {
    principal.authorize('routes:read', id.tenant);
    const route = await this.routes.get(id);
    void reply.header('ETag', etag(route.revision)).header(H.routeRevision, String(route.revision));
    return route;
  }

  @Delete(':tenant/:service/:environment')
  @UseInterceptors(RefusedWrites)
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a route, with its outbox event' })
  @ApiHeader({ name: 'If-Match', required: false, description: '"<revision>" (or *): 412 unless the route is at that revision' })
  @ApiHeader({ name: 'If-None-Match', required: false, description: '"<revision>" list: 412 when the route is at one of them' })
  @ApiNoContentResponse({ description: 'Deleted; X-Route-Revision is the revision of the deletion' })
  @ApiOkResponse({ type: DeletedWithPropagationResponse, description: 'Deleted, with ?wait=in-sync' })
  @ApiProblems(400, 404, 412)
  async delete(
    @CurrentPrincipal() principal: Principal,
    @OriginOf() origin: ChangeOrigin,
    @Param() id: RouteParamsDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Query() wait: WaitQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<DeletedWithPropagationResponse | undefined> {
    principal.authorize('routes:write', id.tenant);
    const revision = await this.routes.delete(id, parsePreconditions(ifMatch, ifNoneMatch), origin);
    void reply.header(H.routeRevision, String(revision));
    const propagation = await this.propagation.afterWrite(wait, revision);
    if (!propagation) return undefined;
    void reply.status(200);
    return { revision, propagation };
  }

  @Get()
  @ApiOperation({ summary: 'List routes in (tenant, service, environment) order, a page at a time' })
  @ApiOkResponse({ type: RouteListResponse })
  @ApiProblems(400)
  list(@CurrentPrincipal() principal: Principal, @Query() query: ListRoutesQuery): Promise<RouteListResponse> {
    // A tenant-bound key lists its own tenant only: asking for another is a 403, asking for none is its own.
    const tenant = query.tenant ?? principal.tenant ?? undefined;
    principal.authorize('routes:read', tenant);
    return this.routes.list({ tenant, service: query.service, limit: query.limit, cursor: query.cursor });
  }
}
