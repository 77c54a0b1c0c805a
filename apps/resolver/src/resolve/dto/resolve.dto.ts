import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { ENDPOINT_STATES, HEALTH_VALUES, NAME_PATTERN, type EndpointState, type Health } from '@tm/contracts';
import { FastValidation, hasOnlyKeys } from '@tm/platform';

const NAME = { message: '$property must be 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit' };

const isName = (v: unknown): v is string => typeof v === 'string' && NAME_PATTERN.test(v);
const ROUTE_PARAMS = ['tenant', 'service', 'environment'] as const;
const QUERY_KEYS = ['minRevision', 'consistency', 'affinity'] as const;
/** The longest affinity string taken (a session id, a user id, a cart id...). */
export const MAX_AFFINITY_LENGTH = 256;
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
  const { minRevision, consistency, affinity } = value;
  const query = new ResolveQuery();
  if (affinity !== undefined) {
    if (typeof affinity !== 'string' || affinity.length < 1 || affinity.length > MAX_AFFINITY_LENGTH) return undefined;
    query.affinity = affinity;
  }
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

  @ApiPropertyOptional({
    description: 'makes the weighted pick among the endpoints stable for this string (a user or session id): the same string keeps its endpoint while that endpoint is eligible',
    minLength: 1,
    maxLength: MAX_AFFINITY_LENGTH,
  })
  @IsOptional()
  @IsString({ message: 'affinity must be a string' })
  @Length(1, MAX_AFFINITY_LENGTH, { message: `affinity must be 1 to ${MAX_AFFINITY_LENGTH} characters long` })
  affinity?: string;
}

export class ResolvedEndpoint {
  @ApiProperty({ example: 'blue' })
  id!: string;

  @ApiProperty({ example: 'https://blue.billing.acme.internal/api' })
  url!: string;

  @ApiProperty({ type: 'integer', example: 1 })
  priority!: number;

  @ApiProperty({ type: 'integer', example: 1 })
  weight!: number;

  @ApiProperty({ enum: ENDPOINT_STATES })
  state!: EndpointState;

  @ApiProperty({ enum: HEALTH_VALUES, description: 'unknown: not probed, not decided by a majority of fresh verdicts, or Redis unreachable (eligible)' })
  health!: Health;
}

export class ResolvedRoute {
  @ApiProperty({ example: 'acme' })
  tenant!: string;

  @ApiProperty({ example: 'billing' })
  service!: string;

  @ApiProperty({ example: 'prod' })
  environment!: string;

  @ApiProperty({ example: 'https://billing.acme.internal/api', description: 'the endpoint picked: call this' })
  url!: string;

  @ApiProperty({ description: "the route's revision (its last change)", example: 42 })
  revision!: number;

  @ApiProperty({ description: 'true when every candidate endpoint was unhealthy and one was picked anyway' })
  failOpen!: boolean;

  @ApiProperty({ type: [ResolvedEndpoint], description: 'every endpoint with its health, in selection order (the pick first)' })
  endpoints!: ResolvedEndpoint[];
}
