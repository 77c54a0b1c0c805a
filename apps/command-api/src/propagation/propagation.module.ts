import { Module } from '@nestjs/common';
import { PropagationFacts } from './propagation.facts';
import { PropagationService } from './propagation.service';
import { RevisionsController } from './revisions.controller';

/**
 * Propagation (docs/guarantees.md, "Propagation"): GET /v1/revisions/{R}, and PropagationService
 * for the writes' `?wait=in-sync` (WaitQuery). Needs the app's KafkaModule and RedisModule (global).
 */
@Module({
  controllers: [RevisionsController],
  providers: [PropagationFacts, PropagationService],
  exports: [PropagationService],
})
export class PropagationModule {}
