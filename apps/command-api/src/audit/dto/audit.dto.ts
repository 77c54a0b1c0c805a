import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { PageQuery } from '../../routes/dto/list-routes.query';
import { IsName } from '../../validation';
import { AUDIT_ACTIONS } from '../audit-log';

/** An RFC 3339 date-time (section 5.6), as the database and Date.parse both read it. */
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export class AuditQuery extends PageQuery {
  @ApiPropertyOptional({ description: "only this tenant (the tenant that has the slug now; a tenant-bound key sees only its own)" })
  @IsOptional()
  @IsString()
  @IsName()
  tenant?: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'only events at or after this time (RFC 3339)' })
  @IsOptional()
  @IsString()
  @Matches(RFC_3339, { message: 'since must be an RFC 3339 time, such as 2026-01-31T12:00:00Z' })
  since?: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'only events before this time (RFC 3339)' })
  @IsOptional()
  @IsString()
  @Matches(RFC_3339, { message: 'until must be an RFC 3339 time, such as 2026-01-31T12:00:00Z' })
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
