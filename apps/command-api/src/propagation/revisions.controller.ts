import { Controller, Get, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuthGuard } from '@tm/auth';
import { ApiProblems } from '@tm/platform';
import { PropagationResponse } from './dto/propagation.response';
import { RevisionParamsDto } from './dto/revision-params.dto';
import { PropagationService } from './propagation.service';

@ApiTags('propagation')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@ApiProblems(401, 429, 503)
@Controller('v1/revisions')
export class RevisionsController {
  constructor(private readonly propagation: PropagationService) {}

  @Get(':revision')
  @ApiOperation({
    summary: 'Whether a revision has reached Kafka, the cache and every live resolver replica (any valid key)',
    description:
      'in-sync: every event up to the revision is published, the invalidation worker applied them, and every resolver replica heard from within PROPAGATION_REPLICA_TIMEOUT_MS holds it in its watch feed. ' +
      'A stopped relay or worker keeps it pending; Kafka not answering counts as not applied; Redis not answering lists no replica. 412 revision_ahead: beyond the store’s revision.',
  })
  @ApiOkResponse({ type: PropagationResponse })
  @ApiProblems(400, 412)
  status(@Param() params: RevisionParamsDto): Promise<PropagationResponse> {
    return this.propagation.status(params.revision);
  }
}
