import { ApiProperty } from '@nestjs/swagger';

export class RouteResponse {
  @ApiProperty({ example: 'acme' })
  tenant!: string;

  @ApiProperty({ example: 'billing' })
  service!: string;

  @ApiProperty({ example: 'prod' })
  environment!: string;

  @ApiProperty({ example: 'https://billing.acme.internal:8443/api' })
  url!: string;

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
