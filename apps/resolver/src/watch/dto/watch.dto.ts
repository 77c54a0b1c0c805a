import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { NAME_PATTERN } from '@tm/contracts';

const NAME = { message: '$property must be 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit' };
const REVISION = { message: 'since must be a whole number (a revision)' };

export class WatchTenantParams {
  @ApiProperty({ example: 'acme' })
  @IsString()
  @Matches(NAME_PATTERN, NAME)
  tenant!: string;
}

export class WatchQuery {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    description: 'stream every change with revision > since instead of a snapshot (Last-Event-ID wins when both are sent)',
  })
  @IsOptional()
  @IsString()
  @Matches(/^(0|[1-9][0-9]{0,15})$/, REVISION)
  since?: string;

  @ApiPropertyOptional({
    enum: ['true', 'false'],
    description: 'true: also `event: health` (no id; data {tenant, service, environment, endpoint, healthRevision, health, since}) whenever an endpoint of a probed route changes health, and the current health of each after the snapshot (or the resume)',
  })
  @IsOptional()
  @IsIn(['true', 'false'], { message: 'health must be true or false' })
  health?: 'true' | 'false';
}

export class WatchTenantQuery extends WatchQuery {
  @ApiPropertyOptional({ example: 'billing', description: "only this service's routes" })
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, NAME)
  service?: string;
}
