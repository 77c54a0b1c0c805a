import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';

const MESSAGE = 'revision must be a whole number from 1 to 9007199254740991';

/** `/v1/revisions/{revision}`, `/v1/changes/{revision}`. */
export class RevisionParamsDto {
  @ApiProperty({ type: 'integer', minimum: 1, example: 42 })
  @Type(() => Number)
  @IsInt({ message: MESSAGE })
  @Min(1, { message: MESSAGE })
  @Max(Number.MAX_SAFE_INTEGER, { message: MESSAGE })
  revision!: number;
}
