import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import { CharLength, IsName, IsPlainText } from '../../validation';

export class CreateTenantDto {
  @ApiProperty({ example: 'acme' })
  @IsString()
  @IsName()
  slug!: string;

  @ApiPropertyOptional({ example: 'Acme Corporation', maxLength: 200 })
  @IsOptional()
  @IsString()
  @CharLength(1, 200)
  @IsPlainText()
  displayName?: string;
}

export class TenantParamsDto {
  @ApiProperty({ example: 'acme' })
  @IsString()
  @IsName()
  tenant!: string;
}

export class TenantResponse {
  @ApiProperty({ example: 'acme' })
  slug!: string;

  @ApiProperty({ type: String, nullable: true, example: 'Acme Corporation' })
  displayName!: string | null;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: String, format: 'date-time' })
  updatedAt!: string;
}

export class TenantListResponse {
  @ApiProperty({ type: [TenantResponse] })
  items!: TenantResponse[];
}
