import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsArray, IsOptional, IsString } from 'class-validator';
import { PropagationResponse } from '../../propagation/dto/propagation.response';
import { PutRouteDto } from '../../routes/dto/put-route.dto';
import { CharLength, IsPlainText } from '../../validation';

/** One change of a set, as documented; the service checks each (see parseChanges), with its index in every error. */
export class ChangeDto {
  @ApiProperty({ enum: ['put', 'delete'] })
  op!: 'put' | 'delete';

  @ApiProperty({ example: 'acme/billing/prod', description: 'tenant/service/environment' })
  route!: string;

  @ApiPropertyOptional({ type: PutRouteDto, description: 'put only: the route PUT body' })
  body?: PutRouteDto;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, description: "the route's revision the change was planned against: 412 when it is at another (or absent)" })
  ifRevision?: number;

  @ApiPropertyOptional({ enum: [true], description: 'put only: 412 when the route exists' })
  ifAbsent?: true;
}

export class ChangeSetDto {
  @ApiProperty({ type: [ChangeDto], minItems: 1, description: '1 to CHANGESET_MAX_CHANGES (default 1,000) changes, each route at most once' })
  @IsArray({ message: 'changes must be a list of changes' })
  changes!: unknown[];

  @ApiPropertyOptional({ maxLength: 500, description: 'why: shown in history and the audit log' })
  @IsOptional()
  @IsString()
  @CharLength(1, 500)
  @IsPlainText()
  description?: string;
}

export class ChangeOutcome {
  @ApiProperty({ example: 'acme/billing/prod' })
  route!: string;

  @ApiProperty({ enum: ['put', 'delete'] })
  op!: 'put' | 'delete';

  @ApiProperty({ enum: ['created', 'updated', 'deleted', 'unchanged'] })
  result!: 'created' | 'updated' | 'deleted' | 'unchanged';

  @ApiProperty({ type: 'integer', nullable: true, description: "the set's revision for a route it changed (a deletion too); for an unchanged one, the route's revision (null: it does not exist)" })
  revision!: number | null;
}

export class ChangeSetResponse {
  @ApiProperty({ type: 'integer', description: "the set's revision; when it changed nothing, the store's current revision" })
  revision!: number;

  @ApiProperty({ type: [ChangeOutcome], description: 'in the order of the request' })
  changes!: ChangeOutcome[];

  @ApiProperty({ type: PropagationResponse, required: false, description: "with ?wait=in-sync only: the revision's propagation when the answer was sent" })
  propagation?: PropagationResponse;
}
