import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsString } from 'class-validator';
import { PageQuery } from '../../routes/dto/list-routes.query';
import { IsName } from '../../validation';
import { AUDIT_ACTIONS } from '../audit-log';

export class AuditQuery extends PageQuery {
  @ApiPropertyOptional({ description: "only this tenant (the tenant that has the slug now; a tenant-bound key sees only its own)" })
  @IsOptional()
  @IsString()
  @IsName()
  tenant?: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'only events at or after this time (RFC 3339)' })
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true }, { message: 'since must be an RFC 3339 time' })
  since?: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'only events before this time (RFC 3339)' })
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true }, { message: 'until must be an RFC 3339 time' })
  until?: string;

  @ApiPropertyOptional({ enum: AUDIT_ACTIONS })
  @IsOptional()
  @IsIn(AUDIT_ACTIONS, { message: `action must be one of ${AUDIT_ACTIONS.join(', ')}` })
  action?: (typeof AUDIT_ACTIONS)[number];
}

export class AuditItemResponse {
  @ApiProperty({ type: String, format: 'date-time' })
  at!: string;

  @ApiProperty({ enum: AUDIT_ACTIONS })
  action!: string;

  @ApiProperty({ type: String, nullable: true })
  tenant!: string | null;

  @ApiProperty({ type: 'object', nullable: true, additionalProperties: true, description: '{keyId, keyName} or {admin: true}' })
  by!: unknown;

  @ApiProperty({ type: String, nullable: true })
  requestId!: string | null;

  @ApiProperty({ type: String, nullable: true })
  clientAddress!: string | null;

  @ApiPropertyOptional({ type: 'integer', description: 'a change set: its revision' })
  revision?: number;

  @ApiProperty({ type: 'object', additionalProperties: true })
  detail!: unknown;
}

export class AuditPageResponse {
  @ApiProperty({ type: [AuditItemResponse], description: 'newest first' })
  items!: AuditItemResponse[];

  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}
