import { Module } from '@nestjs/common';
import { WorkerMetrics } from './worker.metrics';
import { WorkerService } from './worker.service';

@Module({
  providers: [WorkerMetrics, WorkerService],
})
export class WorkerModule {}
