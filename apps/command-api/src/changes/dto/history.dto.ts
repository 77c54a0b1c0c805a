import { ApiProperty } from '@nestjs/swagger';
import { IsInt, Max, Min } from 'class-validator';
import { PageQuery } from '../../routes/dto/list-routes.query';
import { RouteResponse } from '../../routes/dto/route.response';

const REVISION_MESSAGE = 'must be a revision: a whole number of 1 or more';

/** A page of a route's history. */
export class HistoryQuery extends PageQuery {}

export class RollbackDto {
  @ApiProperty({ type: 'integer', minimum: 1, description: 'make the route what it was as of this revision (absent then: deleted)' })
  @IsInt({ message: `toRevision ${REVISION_MESSAGE}` })
  @Min(1, { message: `toRevision ${REVISION_MESSAGE}` })
  @Max(Number.MAX_SAFE_INTEGER, { message: `toRevision ${REVISION_MESSAGE}` })
  toRevision!: number;
}

const BY_SCHEMA = {
  type: 'object',
  nullable: true,
  description: '{keyId, keyName} (a stored key) or {admin: true} (TM_ADMIN_TOKEN); null: a version from before history was kept',
  properties: { keyId: { type: 'string', format: 'uuid' }, keyName: { type: 'string' }, admin: { type: 'boolean' } },
} as const;

export class HistoryItemResponse {
  @ApiProperty({ type: 'integer' })
  revision!: number;

  @ApiProperty({ type: String, format: 'date-time' })
  at!: string;

  @ApiProperty({ enum: ['put', 'delete'] })
  op!: 'put' | 'delete';

  @ApiProperty({ type: RouteResponse, nullable: true, description: 'the route after the change; null on delete' })
  route!: RouteResponse | null;

  @ApiProperty(BY_SCHEMA)
  by!: unknown;

  @ApiProperty({ type: String, nullable: true })
  requestId!: string | null;

  @ApiProperty({ type: 'integer', nullable: true, description: 'how many routes the change set changed' })
  changeSetSize!: number | null;

  @ApiProperty({ type: String, nullable: true })
  description!: string | null;
}

export class HistoryPageResponse {
  @ApiProperty({ type: [HistoryItemResponse], description: 'newest first' })
  items!: HistoryItemResponse[];

  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}

export class ChangeSetChange {
  @ApiProperty({ example: 'acme/billing/prod' })
  route!: string;

  @ApiProperty({ enum: ['put', 'delete'] })
  op!: 'put' | 'delete';

  @ApiProperty({ type: 'object', nullable: true, additionalProperties: true, description: 'the route PUT body the change set wrote (null on delete)' })
  body!: unknown;
}

export class ChangeSetViewResponse {
  @ApiProperty({ type: 'integer' })
  revision!: number;

  @ApiProperty({ type: String, format: 'date-time' })
  at!: string;

  @ApiProperty(BY_SCHEMA)
  by!: unknown;

  @ApiProperty({ type: String, nullable: true })
  requestId!: string | null;

  @ApiProperty({ type: String, nullable: true })
  description!: string | null;

  @ApiProperty({ type: [ChangeSetChange], description: 'the routes of tenants the key may read, in route-key order' })
  changes!: ChangeSetChange[];
}
