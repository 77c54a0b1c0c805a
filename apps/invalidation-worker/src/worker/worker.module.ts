import { Module } from '@nestjs/common';
import { LossReplayService } from './loss-replay.service';
import { WorkerMetrics } from './worker.metrics';
import { WorkerService } from './worker.service';

@Module({
  providers: [WorkerMetrics, WorkerService, LossReplayService],
})
export class WorkerModule {}
