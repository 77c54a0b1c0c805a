import { Module } from '@nestjs/common';
import { LOCAL_CLOCK, monotonicClock } from '../resolve/database-clock';
import { ChangeFeed } from './change-feed';
import { WatchController } from './watch.controller';
import { WATCH_HOOKS, type WatchHooks } from './watch-hooks';
import { WatchService } from './watch.service';
import { WatchMetrics } from './watch.metrics';

const noHooks: WatchHooks = {};

@Module({
  controllers: [WatchController],
  providers: [ChangeFeed, WatchService, WatchMetrics, { provide: WATCH_HOOKS, useValue: noHooks }, { provide: LOCAL_CLOCK, useValue: monotonicClock }],
})
export class WatchModule {}
