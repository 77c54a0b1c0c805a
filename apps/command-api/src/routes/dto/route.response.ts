import { ApiProperty, type ApiPropertyOptions } from '@nestjs/swagger';
import { ENDPOINT_STATES, HEALTH_CHECK_SCHEMA, type EndpointState, type HealthCheck } from '@tm/contracts';

export class EndpointResponse {
  @ApiProperty({ example: 'default' })
  id!: string;

  @ApiProperty({ example: 'https://billing.acme.internal:8443/api' })
  url!: string;

  @ApiProperty({ type: 'integer', example: 1 })
  priority!: number;

  @ApiProperty({ type: 'integer', example: 1 })
  weight!: number;

  @ApiProperty({ enum: ENDPOINT_STATES, example: 'enabled' })
  state!: EndpointState;
}

export class RouteResponse {
  @ApiProperty({ example: 'acme' })
  tenant!: string;

  @ApiProperty({ example: 'billing' })
  service!: string;

  @ApiProperty({ example: 'prod' })
  environment!: string;

  @ApiProperty({ example: 'https://billing.acme.internal:8443/api', description: "the configuration's first choice (lowest priority, then highest weight, enabled before draining), health aside" })
  url!: string;

  @ApiProperty({ type: [EndpointResponse], description: 'every endpoint, as configured (defaults filled in)' })
  endpoints!: EndpointResponse[];

  @ApiProperty(HEALTH_CHECK_SCHEMA as ApiPropertyOptions)
  healthCheck!: HealthCheck | null;

  @ApiProperty({ description: 'store revision of the last change of this route', example: 42 })
  revision!: number;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: String, format: 'date-time' })
  updatedAt!: string;
}

export class RouteListResponse {
  @ApiProperty({ type: [RouteResponse] })
  items!: RouteResponse[];

  @ApiProperty({ type: String, nullable: true, description: 'pass as cursor for the next page; null on the last page' })
  nextCursor!: string | null;
}
