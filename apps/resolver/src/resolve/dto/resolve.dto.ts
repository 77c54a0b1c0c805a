import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { NAME_PATTERN } from '@tm/contracts';
import { FastValidation, hasOnlyKeys } from '@tm/platform';

const NAME = { message: '$property must be 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit' };

const isName = (v: unknown): v is string => typeof v === 'string' && NAME_PATTERN.test(v);
const ROUTE_PARAMS = ['tenant', 'service', 'environment'] as const;
const QUERY_KEYS = ['minRevision', 'consistency'] as const;
/** What @Type(() => Number) and @IsInt/@Min/@Max surely accept: up to 15 digits (below 2^53). */
const WHOLE_NUMBER = /^\d{1,15}$/;

/**
 * `/v1/resolve/{tenant}/{service}/{environment}`. Every resolve validates it: three names that
 * match are taken without class-validator (the decorators below still decide everything else).
 */
@FastValidation<ResolveParamsDto>((value) => {
  if (!hasOnlyKeys(value, ROUTE_PARAMS)) return undefined;
  const { tenant, service, environment } = value;
  if (!isName(tenant) || !isName(service) || !isName(environment)) return undefined;
  return Object.assign(new ResolveParamsDto(), { tenant, service, environment });
})
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

/** Usually empty; a plain minRevision and consistency=strong are taken without class-validator. */
@FastValidation<ResolveQuery>((value) => {
  if (!hasOnlyKeys(value, QUERY_KEYS)) return undefined;
  const { minRevision, consistency } = value;
  const query = new ResolveQuery();
  if (minRevision !== undefined) {
    if (typeof minRevision !== 'string' || !WHOLE_NUMBER.test(minRevision)) return undefined;
    query.minRevision = Number(minRevision);
  }
  if (consistency !== undefined) {
    if (consistency !== 'strong') return undefined;
    query.consistency = consistency;
  }
  return query;
})
export class ResolveQuery {
  @ApiPropertyOptional({ type: 'integer', description: 'the answer reflects at least this revision (same as the X-Min-Revision header)', minimum: 0 })
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
