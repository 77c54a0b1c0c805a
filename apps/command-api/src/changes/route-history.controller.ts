import { Body, Controller, Get, Headers, Param, Post, Query, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuthGuard, CurrentPrincipal, type Principal } from '@tm/auth';
import { ApiProblems } from '@tm/platform';
import { RouteParamsDto } from '../routes/dto/route-params.dto';
import { parsePreconditions } from '../routes/preconditions';
import { badPrecondition } from '../routes/route.errors';
import { OriginOf, type ChangeOrigin } from '../store/change-origin';
import { ChangeSetResponse } from './dto/change-set.dto';
import { HistoryPageResponse, HistoryQuery, RollbackDto } from './dto/history.dto';
import { HistoryService } from './history.service';
import { changeSetStatus } from './changes.service';
import { UndoService } from './undo.service';
import { WaitQuery } from '../propagation/dto/wait.query';
import { PropagationService } from '../propagation/propagation.service';
import { RefusedWrites } from '../audit/refused-writes.interceptor';

/** The one revision an If-Match on a rollback may name; undefined without one. */
function rollbackIfMatch(ifMatch: string | undefined): number | undefined {
  const tags = parsePreconditions(ifMatch, undefined).ifMatch;
  if (tags === undefined) return undefined;
  const [tag, ...more] = tags === '*' ? [] : tags;
  if (!tag || more.length > 0 || tag.weak) throw badPrecondition('If-Match', 'If-Match on a rollback must be one "<revision>": the route\'s revision now');
  return tag.revision;
}

@ApiTags('changes')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@ApiProblems(401, 403, 429, 503)
@Controller('v1/routes')
export class RouteHistoryController {
  constructor(
    private readonly history: HistoryService,
    private readonly undo: UndoService,
    private readonly propagation: PropagationService,
  ) {}

  @Get(':tenant/:service/:environment/history')
  @ApiOperation({ summary: "A route's versions, newest first: the route after each change, who, when, why" })
  @ApiOkResponse({ type: HistoryPageResponse })
  @ApiProblems(400, 404)
  routeHistory(@CurrentPrincipal() principal: Principal, @Param() id: RouteParamsDto, @Query() query: HistoryQuery): Promise<HistoryPageResponse> {
    principal.authorize('routes:read', id.tenant);
    return this.history.routeHistory(id, query.limit, query.cursor);
  }

  @Post(':tenant/:service/:environment/rollback')
  @UseInterceptors(RefusedWrites)
  @ApiOperation({
    summary: 'Make the route what it was as of a revision (absent then: deleted), in a new change set',
    description: '410 {oldestRevision} when the kept history does not reach the revision; 412 when it is beyond the store.',
  })
  @ApiHeader({ name: 'If-Match', required: false, description: '"<revision>": 412 unless the route is at that revision now' })
  @ApiOkResponse({ type: ChangeSetResponse })
  @ApiProblems(400, 404, 409, 410, 412)
  async rollback(
    @CurrentPrincipal() principal: Principal,
    @OriginOf() origin: ChangeOrigin,
    @Param() id: RouteParamsDto,
    @Body() body: RollbackDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Query() wait: WaitQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChangeSetResponse> {
    principal.authorize('routes:write', id.tenant);
    const answer = await this.undo.rollback(id, body.toRevision, rollbackIfMatch(ifMatch), origin);
    void reply.status(changeSetStatus(answer));
    return this.propagation.withPropagation(wait, answer);
  }
}
