import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsObject, IsOptional, IsString, Max, Min, ValidateNested } from 'class-validator';
import { ENDPOINT_STATES, HEALTH_CHECK_TYPES, POLICY_LIMITS, type EndpointState, type HealthCheckType } from '@tm/contracts';
import { IsEndpointUrl, IsName } from '../../validation';

const L = POLICY_LIMITS;

function whole(field: string, min: number, max: number) {
  const message = `${field} must be a whole number from ${min} to ${max}`;
  return [IsInt({ message }), Min(min, { message }), Max(max, { message })];
}

function apply(...decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, key) => decorators.forEach((d) => d(target, key));
}

export class EndpointDto {
  @ApiProperty({ description: 'unique in the route; 1 to 63 lowercase letters, digits or hyphens', example: 'blue' })
  @IsString()
  @IsName()
  id!: string;

  @ApiProperty({ description: 'Absolute http(s) URL with a host, no user info, no fragment, at most 2048 characters', example: 'https://blue.billing.acme.internal' })
  @IsEndpointUrl()
  url!: string;

  @ApiPropertyOptional({ type: 'integer', minimum: L.priority.min, maximum: L.priority.max, default: L.priority.default, description: 'lower is tried first' })
  @IsOptional()
  @apply(...whole('priority', L.priority.min, L.priority.max))
  priority?: number;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: L.weight.min,
    maximum: L.weight.max,
    default: L.weight.default,
    description: 'share among the endpoints of its priority; 0: a standby, used only when no endpoint with weight > 0 is eligible',
  })
  @IsOptional()
  @apply(...whole('weight', L.weight.min, L.weight.max))
  weight?: number;

  @ApiPropertyOptional({ enum: ENDPOINT_STATES, default: L.state.default, description: 'draining: only when nothing enabled is eligible; disabled: never' })
  @IsOptional()
  @IsIn(ENDPOINT_STATES, { message: `state must be one of ${ENDPOINT_STATES.join(', ')}` })
  state?: EndpointState;
}

export class HealthCheckDto {
  @ApiPropertyOptional({ enum: HEALTH_CHECK_TYPES, default: 'http', description: 'http: GET the path on the endpoint origin (no redirects followed); tcp: connect' })
  @IsOptional()
  @IsIn(HEALTH_CHECK_TYPES, { message: `type must be one of ${HEALTH_CHECK_TYPES.join(', ')}` })
  type?: HealthCheckType;

  @ApiPropertyOptional({ default: L.path.default, maxLength: L.path.maxLength, description: "http only: the path (and query) to GET on the endpoint's origin" })
  @IsOptional()
  @IsString()
  path?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: L.intervalSeconds.min, maximum: L.intervalSeconds.max, default: L.intervalSeconds.default })
  @IsOptional()
  @apply(...whole('intervalSeconds', L.intervalSeconds.min, L.intervalSeconds.max))
  intervalSeconds?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: L.timeoutSeconds.min, default: L.timeoutSeconds.default, description: 'not above the interval (default: 5, or the interval when shorter)' })
  @IsOptional()
  @apply(...whole('timeoutSeconds', L.timeoutSeconds.min, L.intervalSeconds.max))
  timeoutSeconds?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: L.healthyThreshold.min, maximum: L.healthyThreshold.max, default: L.healthyThreshold.default, description: 'probes in a row that succeed before an endpoint is healthy' })
  @IsOptional()
  @apply(...whole('healthyThreshold', L.healthyThreshold.min, L.healthyThreshold.max))
  healthyThreshold?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: L.unhealthyThreshold.min, maximum: L.unhealthyThreshold.max, default: L.unhealthyThreshold.default, description: 'probes in a row that fail before an endpoint is unhealthy' })
  @IsOptional()
  @apply(...whole('unhealthyThreshold', L.unhealthyThreshold.min, L.unhealthyThreshold.max))
  unhealthyThreshold?: number;

  @ApiPropertyOptional({ default: L.expectedStatus.default, example: '200-299,304', description: 'http only: status codes and ranges that count as healthy' })
  @IsOptional()
  @IsString()
  expectedStatus?: string;
}

/** A route PUT: `{"url"}`, or `{"endpoints": [...]}`; either with an optional `healthCheck`. */
export class PutRouteDto {
  @ApiPropertyOptional({
    description: 'The one endpoint (id "default"); give url or endpoints. Absolute http(s) URL with a host, no user info, no fragment, at most 2048 characters',
    example: 'https://billing.acme.internal:8443/api',
    maxLength: 2048,
  })
  @IsOptional()
  @IsEndpointUrl()
  url?: string;

  @ApiPropertyOptional({ type: [EndpointDto], minItems: L.endpoints.min, maxItems: L.endpoints.max, description: 'give url or endpoints' })
  @IsOptional()
  @IsArray({ message: 'endpoints must be an array' })
  @ArrayMinSize(L.endpoints.min, { message: `endpoints must have ${L.endpoints.min} to ${L.endpoints.max} items` })
  @ArrayMaxSize(L.endpoints.max, { message: `endpoints must have ${L.endpoints.min} to ${L.endpoints.max} items` })
  @ValidateNested({ each: true })
  @Type(() => EndpointDto)
  endpoints?: EndpointDto[];

  @ApiPropertyOptional({ type: HealthCheckDto, nullable: true, description: 'absent or null: not probed (every endpoint unknown)' })
  @IsOptional()
  @IsObject({ message: 'healthCheck must be an object' })
  @ValidateNested()
  @Type(() => HealthCheckDto)
  healthCheck?: HealthCheckDto | null;
}
