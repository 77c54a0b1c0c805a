import { Body, Controller, Get, Param, Post, Query, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuthGuard, CurrentPrincipal, type Principal } from '@tm/auth';
import { ApiProblems, BodyLimit } from '@tm/platform';
import { CHANGESET_BODY_LIMIT, CommandApiConfig } from '../config';
import { OriginOf, type ChangeOrigin } from '../store/change-origin';
import { parseChanges } from './change-set.parse';
import { changeSetStatus, ChangesService } from './changes.service';
import { WaitQuery } from '../propagation/dto/wait.query';
import { PropagationService } from '../propagation/propagation.service';
import { ChangeSetDto, ChangeSetResponse } from './dto/change-set.dto';
import { ChangeSetViewResponse } from './dto/history.dto';
import { RevisionParamsDto } from '../propagation/dto/revision-params.dto';
import { HistoryService } from './history.service';
import { UndoService } from './undo.service';
import { RefusedWrites } from '../audit/refused-writes.interceptor';

@ApiTags('changes')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@ApiProblems(401, 403, 429, 503)
@Controller('v1/changes')
export class ChangesController {
  constructor(
    private readonly changes: ChangesService,
    private readonly history: HistoryService,
    private readonly undo: UndoService,
    private readonly propagation: PropagationService,
    private readonly config: CommandApiConfig,
  ) {}

  @Post()
  @UseInterceptors(RefusedWrites)
  @BodyLimit(CHANGESET_BODY_LIMIT)
  @ApiOperation({
    summary: 'Apply a change set: many routes at one new revision, all or nothing',
    description:
      'Each change is a put (a route PUT body) or a delete, with an optional compare (ifRevision, or ifAbsent on a put). ' +
      '412 with conflicts when a compare fails; 400 with errors[].field like changes[3].body.url; 403 naming a tenant the key cannot write; ' +
      '409 tenant_route_quota or tenant_probe_quota. Nothing is applied in any of these. A set of only unchanged changes commits nothing.',
  })
  @ApiCreatedResponse({ type: ChangeSetResponse, description: 'Applied; a route was created' })
  @ApiOkResponse({ type: ChangeSetResponse, description: 'Applied (or nothing to change)' })
  @ApiProblems(400, 409, 412, 413, 415)
  async apply(
    @CurrentPrincipal() principal: Principal,
    @OriginOf() origin: ChangeOrigin,
    @Body() body: ChangeSetDto,
    @Query() wait: WaitQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChangeSetResponse> {
    principal.authorize('routes:write');
    const changes = parseChanges(body.changes, this.config.CHANGESET_MAX_CHANGES, this.config.PROBE_MAX_TIMEOUT_SECONDS);
    this.changes.authorize(principal, changes);
    const answer = await this.changes.apply(changes, origin, body.description);
    void reply.status(changeSetStatus(answer));
    return this.propagation.withPropagation(wait, answer);
  }

  @Get(':revision')
  @ApiOperation({ summary: 'A change set: when, by whom, why, and its routes (those of tenants the key may read)' })
  @ApiOkResponse({ type: ChangeSetViewResponse })
  @ApiProblems(400, 404)
  getChangeSet(@CurrentPrincipal() principal: Principal, @Param() params: RevisionParamsDto): Promise<ChangeSetViewResponse> {
    principal.authorize('routes:read');
    return this.history.changeSet(params.revision, principal);
  }

  @Post(':revision/revert')
  @UseInterceptors(RefusedWrites)
  @ApiOperation({
    summary: 'Revert a change set: every route it changed back to its state before it, in one new change set',
    description: '409 with conflicts (nothing applied) when a route changed since; 404 unless the key may write every tenant of the set.',
  })
  @ApiOkResponse({ type: ChangeSetResponse })
  @ApiProblems(400, 404, 409, 410, 412)
  async revert(
    @CurrentPrincipal() principal: Principal,
    @OriginOf() origin: ChangeOrigin,
    @Param() params: RevisionParamsDto,
    @Query() wait: WaitQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChangeSetResponse> {
    principal.authorize('routes:write');
    const answer = await this.undo.revert(params.revision, principal, origin);
    void reply.status(changeSetStatus(answer));
    return this.propagation.withPropagation(wait, answer);
  }
}
