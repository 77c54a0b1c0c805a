import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { NAME_PATTERN } from '@tm/contracts';

const NAME = { message: '$property must be 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit' };

/** `/v1/resolve/{tenant}/{service}/{environment}`. */
export class ResolveParamsDto {
  @ApiProperty({ example: 'acme' })
  @IsString()
  @Matches(NAME_PATTERN, NAME)
  tenant!: string;

  @ApiProperty({ example: 'billing' })
  @IsString()
  @Matches(NAME_PATTERN, NAME)
  service!: string;

  @ApiProperty({ example: 'prod' })
  @IsString()
  @Matches(NAME_PATTERN, NAME)
  environment!: string;
}

export class ResolveQuery {
  @ApiPropertyOptional({ description: 'the answer reflects at least this revision (same as the X-Min-Revision header)', minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'minRevision must be a whole number' })
  @Min(0, { message: 'minRevision must not be negative' })
  @Max(Number.MAX_SAFE_INTEGER, { message: 'minRevision is too large' })
  minRevision?: number;

  @ApiPropertyOptional({ enum: ['strong'], description: 'strong: skip the cache and read the database (X-Cache: BYPASS)' })
  @IsOptional()
  @IsIn(['strong'], { message: 'consistency must be strong' })
  consistency?: 'strong';
}

export class ResolvedRoute {
  @ApiProperty({ example: 'acme' })
  tenant!: string;

  @ApiProperty({ example: 'billing' })
  service!: string;

  @ApiProperty({ example: 'prod' })
  environment!: string;

  @ApiProperty({ example: 'https://billing.acme.internal/api' })
  url!: string;

  @ApiProperty({ description: "the route's revision (its last change)", example: 42 })
  revision!: number;
}
