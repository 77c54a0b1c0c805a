import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';

export const DEFAULT_WAIT_TIMEOUT_MS = 5_000;
export const MAX_WAIT_TIMEOUT_MS = 30_000;
const TIMEOUT_MESSAGE = `waitTimeoutMs must be a whole number from 1 to ${MAX_WAIT_TIMEOUT_MS}`;

/**
 * `?wait=in-sync&waitTimeoutMs=N` on a write (docs/guarantees.md, "Propagation"): the write answers
 * once its revision is in sync, or after N ms with the status pending. A controller takes it with
 * `@Query()` and hands it to PropagationService.afterWrite.
 */
export class WaitQuery {
  @ApiPropertyOptional({ enum: ['in-sync'], description: 'answer once the write’s revision is in sync (GET /v1/revisions/{revision}), with a propagation member' })
  @IsOptional()
  @IsIn(['in-sync'], { message: 'wait must be in-sync' })
  wait?: 'in-sync';

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_WAIT_TIMEOUT_MS, default: DEFAULT_WAIT_TIMEOUT_MS, description: 'with wait: answer after this long at most, the status then pending (the write is committed either way)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: TIMEOUT_MESSAGE })
  @Min(1, { message: TIMEOUT_MESSAGE })
  @Max(MAX_WAIT_TIMEOUT_MS, { message: TIMEOUT_MESSAGE })
  waitTimeoutMs?: number;
}
