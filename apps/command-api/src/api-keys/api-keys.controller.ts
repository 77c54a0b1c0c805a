import { Body, Controller, Delete, Get, HttpCode, Param, Post, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuthGuard, CurrentPrincipal, type Principal } from '@tm/auth';
import { ApiProblems } from '@tm/platform';
import { OriginOf, type ChangeOrigin } from '../store/change-origin';
import { ApiKeysService } from './api-keys.service';
import { ApiKeyListResponse, ApiKeyParamsDto, CreateApiKeyDto, CreatedApiKeyResponse } from './dto/api-key.dto';
import { RefusedWrites } from '../audit/refused-writes.interceptor';

@ApiTags('api-keys')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@ApiProblems(401, 403, 429, 503)
@Controller('v1/api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @UseInterceptors(RefusedWrites)
  @ApiOperation({ summary: 'Create an API key (admin); the secret is in this answer only' })
  @ApiCreatedResponse({ type: CreatedApiKeyResponse })
  @ApiProblems(400, 404, 413, 415)
  create(@CurrentPrincipal() principal: Principal, @OriginOf() origin: ChangeOrigin, @Body() body: CreateApiKeyDto): Promise<CreatedApiKeyResponse> {
    principal.authorize('admin');
    return this.keys.create(body.name, body.tenant, body.scopes, origin);
  }

  @Get()
  @ApiOperation({ summary: 'List API keys, without secrets (admin)' })
  @ApiOkResponse({ type: ApiKeyListResponse })
  async list(@CurrentPrincipal() principal: Principal): Promise<ApiKeyListResponse> {
    principal.authorize('admin');
    return { items: await this.keys.list() };
  }

  @Delete(':id')
  @UseInterceptors(RefusedWrites)
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an API key (admin)' })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiProblems(400, 404)
  revoke(@CurrentPrincipal() principal: Principal, @OriginOf() origin: ChangeOrigin, @Param() params: ApiKeyParamsDto): Promise<void> {
    principal.authorize('admin');
    return this.keys.revoke(params.id, origin);
  }
}
