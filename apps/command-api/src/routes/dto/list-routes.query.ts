import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { IsName } from '../../validation';

export const MAX_PAGE = 500;

/** A page of a list: how many items, and where the previous page ended. */
export class PageQuery {
  // The type is named: the initialised property would otherwise be documented as an object.
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be a whole number from 1 to 500' })
  @Min(1, { message: 'limit must be a whole number from 1 to 500' })
  @Max(MAX_PAGE, { message: 'limit must be a whole number from 1 to 500' })
  limit = 50;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page', maxLength: 1024 })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  cursor?: string;
}

export class ListRoutesQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'only this tenant (a tenant-bound key sees only its own anyway)' })
  @IsOptional()
  @IsString()
  @IsName()
  tenant?: string;

  @ApiPropertyOptional({ description: 'only this service' })
  @IsOptional()
  @IsString()
  @IsName()
  service?: string;
}
