import { ApiProperty } from '@nestjs/swagger';
import { IsDefined } from 'class-validator';
import { IsEndpointUrl } from '../../validation';

export class PutRouteDto {
  @ApiProperty({
    description: 'Absolute http(s) URL with a host, no user info, no fragment, at most 2048 characters',
    example: 'https://billing.acme.internal:8443/api',
    maxLength: 2048,
  })
  @IsDefined()
  @IsEndpointUrl()
  url!: string;
}
