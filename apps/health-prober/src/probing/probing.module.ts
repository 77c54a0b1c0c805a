import { Module } from '@nestjs/common';
import { ProberMetrics } from './prober.metrics';
import { ProberService } from './prober.service';

@Module({
  providers: [ProberMetrics, ProberService],
  exports: [ProberService],
})
export class ProbingModule {}
