import { ApiProperty } from '@nestjs/swagger';
import { IsString } from 'class-validator';
import { IsName } from '../../validation';

/** `/v1/routes/{tenant}/{service}/{environment}`. */
export class RouteParamsDto {
  @ApiProperty({ example: 'acme' })
  @IsString()
  @IsName()
  tenant!: string;

  @ApiProperty({ example: 'billing' })
  @IsString()
  @IsName()
  service!: string;

  @ApiProperty({ example: 'prod' })
  @IsString()
  @IsName()
  environment!: string;
}
