import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { SCOPES, type Scope } from '@tm/contracts';
import { ApiProblems } from '@tm/platform';
import { ADMIN_TOKEN_ID } from './api-key-verifier';
import { AuthGuard, CurrentPrincipal } from './auth.guard';
import type { Principal } from './principal';

/** What a key may do: a stored key's id, name, tenant and scopes, or the admin token. */
export class WhoamiResponse {
  @ApiPropertyOptional({ format: 'uuid', description: 'a stored key: its id' })
  keyId?: string;

  @ApiPropertyOptional({ description: 'a stored key: its name' })
  name?: string;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'a stored key: the tenant it is bound to (null: none, it spans every tenant)' })
  tenant?: string | null;

  @ApiPropertyOptional({ enum: [true], description: 'TM_ADMIN_TOKEN' })
  admin?: true;

  @ApiProperty({ enum: SCOPES, isArray: true })
  scopes!: Scope[];
}

/** `GET /v1/whoami` on both APIs (docs/http-apis.md): any valid key learns what it may do. */
export function whoami(principal: Principal): WhoamiResponse {
  if (principal.id === ADMIN_TOKEN_ID) return { admin: true, scopes: ['admin'] };
  return { keyId: principal.id, name: principal.name, tenant: principal.tenant, scopes: SCOPES.filter((s) => principal.scopes.has(s)) };
}

@ApiTags('keys')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@ApiProblems(401, 429, 503)
@Controller('v1/whoami')
export class WhoamiController {
  @Get()
  @ApiOperation({ summary: 'What the key of this request may do: its id, name, tenant and scopes ({admin: true} for TM_ADMIN_TOKEN)' })
  @ApiOkResponse({ type: WhoamiResponse })
  get(@CurrentPrincipal() principal: Principal): WhoamiResponse {
    return whoami(principal);
  }
}
