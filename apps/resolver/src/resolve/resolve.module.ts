import { Module } from '@nestjs/common';
import { DatabaseClock, LOCAL_CLOCK, monotonicClock, type LocalClock } from './database-clock';
import { DatabaseClockProbe } from './database-clock.probe';
import { ResolveController } from './resolve.controller';
import { ReadTier } from './read-tier';
import { ResolveService } from './resolve.service';
import { RESOLVER_HOOKS, type ResolverHooks } from './resolver-hooks';
import { ResolverMetrics } from './resolver.metrics';

const noHooks: ResolverHooks = {};

@Module({
  controllers: [ResolveController],
  providers: [
    ResolveService,
    ResolverMetrics,
    { provide: RESOLVER_HOOKS, useValue: noHooks },
    { provide: LOCAL_CLOCK, useValue: monotonicClock },
    { provide: DatabaseClock, useFactory: (local: LocalClock) => new DatabaseClock(local), inject: [LOCAL_CLOCK] },
    DatabaseClockProbe,
    ReadTier,
  ],
  exports: [LOCAL_CLOCK, ReadTier],
})
export class ResolveModule {}
