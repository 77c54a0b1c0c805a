import { Module } from '@nestjs/common';
import { OutboxStore } from './outbox-store';
import { RelayMetrics } from './relay.metrics';
import { RelayService } from './relay.service';

@Module({
  providers: [OutboxStore, RelayMetrics, RelayService],
})
export class RelayModule {}
