import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsIn, IsOptional, IsString, IsUUID } from 'class-validator';
import { SCOPES, type Scope } from '@tm/contracts';
import { CharLength, IsName, IsPlainText } from '../../validation';

export class CreateApiKeyDto {
  @ApiProperty({ example: 'billing-deployer', maxLength: 100 })
  @IsString()
  @CharLength(1, 100)
  @IsPlainText()
  name!: string;

  @ApiPropertyOptional({ description: 'bind the key to this tenant (it must exist); omit for a key that spans tenants', example: 'acme' })
  @IsOptional()
  @IsString()
  @IsName()
  tenant?: string;

  @ApiProperty({ enum: SCOPES, isArray: true, example: ['routes:read'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(SCOPES.length)
  @ArrayUnique()
  @IsIn(SCOPES, { each: true, message: `each scope must be one of ${SCOPES.join(', ')}` })
  scopes!: Scope[];
}

export class ApiKeyParamsDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all', { message: 'id must be a key id (a UUID)' })
  id!: string;
}

export class ApiKeyResponse {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({ type: String, nullable: true })
  tenant!: string | null;

  @ApiProperty({ enum: SCOPES, isArray: true })
  scopes!: Scope[];

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  revokedAt!: string | null;
}

export class CreatedApiKeyResponse extends ApiKeyResponse {
  @ApiProperty({ description: 'the secret key: shown this once, stored only hashed', example: 'tm_0123456789abcdef0123_...' })
  key!: string;
}

export class ApiKeyListResponse {
  @ApiProperty({ type: [ApiKeyResponse] })
  items!: ApiKeyResponse[];
}
