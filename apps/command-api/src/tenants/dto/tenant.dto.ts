import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional, IsString, ValidateIf } from 'class-validator';
import { CharLength, IsName, IsPlainText } from '../../validation';

export class CreateTenantDto {
  @ApiProperty({ example: 'acme' })
  @IsString()
  @IsName()
  slug!: string;

  @ApiPropertyOptional({ example: 'Acme Corporation', maxLength: 200 })
  @IsOptional()
  @IsString()
  @CharLength(1, 200)
  @IsPlainText()
  displayName?: string;

  @ApiPropertyOptional({ type: Boolean, description: 'answered over DNS by the resolver (absent: false, closed)' })
  @ValidateIf((o: { dns?: unknown }) => o.dns !== undefined)
  @IsBoolean({ message: 'dns must be true or false' })
  dns?: boolean;
}

/** `PATCH /v1/tenants/{tenant}`: what to change; at least one of the two (TenantsController checks it). */
export class UpdateTenantDto {
  @ApiPropertyOptional({ type: String, nullable: true, example: 'Acme Corporation', maxLength: 200, description: 'null clears it' })
  @IsOptional()
  @IsString()
  @CharLength(1, 200)
  @IsPlainText()
  displayName?: string | null;

  @ApiPropertyOptional({ type: Boolean, description: 'answered over DNS by the resolver (it learns a change within AUTH_CACHE_TTL_MS)' })
  @ValidateIf((o: { dns?: unknown }) => o.dns !== undefined)
  @IsBoolean({ message: 'dns must be true or false' })
  dns?: boolean;
}

export class TenantParamsDto {
  @ApiProperty({ example: 'acme' })
  @IsString()
  @IsName()
  tenant!: string;
}

export class TenantResponse {
  @ApiProperty({ example: 'acme' })
  slug!: string;

  @ApiProperty({ type: String, nullable: true, example: 'Acme Corporation' })
  displayName!: string | null;

  @ApiProperty({ type: Boolean, description: 'answered over DNS by the resolver (default false: closed)' })
  dns!: boolean;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: String, format: 'date-time' })
  updatedAt!: string;
}

export class TenantListResponse {
  @ApiProperty({ type: [TenantResponse] })
  items!: TenantResponse[];
}
