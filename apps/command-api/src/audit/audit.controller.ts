import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuthGuard, CurrentPrincipal, type Principal } from '@tm/auth';
import { ApiProblems } from '@tm/platform';
import { AuditService } from './audit.service';
import { AuditPageResponse, AuditQuery } from './dto/audit.dto';

@ApiTags('audit')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@ApiProblems(401, 403, 429, 503)
@Controller('v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOperation({
    summary: 'The audit log, newest first (admin, or audit:read: the key\'s tenant, every tenant for an unbound key)',
    description: 'Every change set, tenant and key event, and every write refused with 403. Never a secret.',
  })
  @ApiOkResponse({ type: AuditPageResponse })
  @ApiProblems(400)
  list(@CurrentPrincipal() principal: Principal, @Query() query: AuditQuery): Promise<AuditPageResponse> {
    return this.audit.list(query, principal);
  }
}
