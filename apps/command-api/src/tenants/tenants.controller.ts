import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuthGuard, CurrentPrincipal, type Principal } from '@tm/auth';
import { ApiProblems, ProblemException } from '@tm/platform';
import { OriginOf, type ChangeOrigin } from '../store/change-origin';
import { CreateTenantDto, TenantListResponse, TenantParamsDto, TenantResponse, UpdateTenantDto } from './dto/tenant.dto';
import { TenantsService } from './tenants.service';
import { RefusedWrites } from '../audit/refused-writes.interceptor';

@ApiTags('tenants')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@ApiProblems(401, 403, 429, 503)
@Controller('v1/tenants')
export class TenantsController {
  constructor(private readonly tenants: TenantsService) {}

  @Post()
  @UseInterceptors(RefusedWrites)
  @ApiOperation({ summary: 'Create a tenant (admin)' })
  @ApiCreatedResponse({ type: TenantResponse })
  @ApiProblems(400, 409, 413, 415)
  create(@CurrentPrincipal() principal: Principal, @OriginOf() origin: ChangeOrigin, @Body() body: CreateTenantDto): Promise<TenantResponse> {
    principal.authorize('admin');
    return this.tenants.create(body.slug, body.displayName, body.dns, origin);
  }

  @Get()
  @ApiOperation({ summary: 'List tenants (a tenant-bound key sees its own)' })
  @ApiOkResponse({ type: TenantListResponse })
  async list(@CurrentPrincipal() principal: Principal): Promise<TenantListResponse> {
    principal.authorize('routes:read');
    return { items: await this.tenants.list(principal.isAdmin ? null : principal.tenant) };
  }

  @Get(':tenant')
  @ApiOperation({ summary: 'Read a tenant' })
  @ApiOkResponse({ type: TenantResponse })
  @ApiProblems(400, 404)
  get(@CurrentPrincipal() principal: Principal, @Param() params: TenantParamsDto): Promise<TenantResponse> {
    principal.authorize('routes:read', params.tenant);
    return this.tenants.get(params.tenant);
  }

  @Patch(':tenant')
  @UseInterceptors(RefusedWrites)
  @ApiOperation({
    summary: 'Change a tenant (admin): its display name (null clears it), whether DNS answers it',
    description: 'Only what differs is written (updatedAt moves, one tenant-updated audit row); no revision, no event: the resolver learns dns within AUTH_CACHE_TTL_MS.',
  })
  @ApiOkResponse({ type: TenantResponse })
  @ApiProblems(400, 404, 413, 415)
  update(@CurrentPrincipal() principal: Principal, @OriginOf() origin: ChangeOrigin, @Param() params: TenantParamsDto, @Body() body: UpdateTenantDto): Promise<TenantResponse> {
    principal.authorize('admin');
    if (body.displayName === undefined && body.dns === undefined) {
      throw new ProblemException(400, 'Bad Request', 'the body changes nothing: give displayName, dns or both', {
        code: 'validation',
        errors: [{ field: 'displayName', message: 'displayName or dns is required' }],
      });
    }
    return this.tenants.update(params.tenant, { displayName: body.displayName, dns: body.dns }, origin);
  }

  @Delete(':tenant')
  @UseInterceptors(RefusedWrites)
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a tenant with its services, routes (one event each) and keys (admin)' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404)
  delete(@CurrentPrincipal() principal: Principal, @OriginOf() origin: ChangeOrigin, @Param() params: TenantParamsDto): Promise<void> {
    principal.authorize('admin');
    return this.tenants.delete(params.tenant, origin);
  }
}
