import { Module } from '@nestjs/common';
import { ResolveModule } from '../resolve/resolve.module';
import { ChangeFeed } from './change-feed';
import { FeedReporter } from './feed-reporter';
import { HealthEvents } from './health-events';
import { WatchController } from './watch.controller';
import { WATCH_HOOKS, type WatchHooks } from './watch-hooks';
import { WatchService } from './watch.service';
import { WatchMetrics } from './watch.metrics';

const noHooks: WatchHooks = {};

/** The watch; it judges ages on the clock the read path provides (ResolveModule's LOCAL_CLOCK). */
@Module({
  imports: [ResolveModule],
  controllers: [WatchController],
  providers: [ChangeFeed, FeedReporter, WatchService, WatchMetrics, HealthEvents, { provide: WATCH_HOOKS, useValue: noHooks }],
})
export class WatchModule {}
