import { Module } from '@nestjs/common';
import { DatabaseClock, LOCAL_CLOCK, monotonicClock, type LocalClock } from './database-clock';
import { DatabaseClockProbe } from './database-clock.probe';
import { LocalRouteCache, LOCAL_PROOF_MAX_AGE_MS } from './local-cache';
import { ResolverConfig } from '../config';
import { ResolveController } from './resolve.controller';
import { ResolveFastPath } from './resolve-fast-path';
import { ReadTier } from './read-tier';
import { ResolveService } from './resolve.service';
import { RESOLVER_HOOKS, type ResolverHooks } from './resolver-hooks';
import { ResolverMetrics } from './resolver.metrics';

const noHooks: ResolverHooks = {};

@Module({
  controllers: [ResolveController],
  providers: [
    ResolveService,
    ResolveFastPath,
    ResolverMetrics,
    { provide: RESOLVER_HOOKS, useValue: noHooks },
    { provide: LOCAL_CLOCK, useValue: monotonicClock },
    { provide: DatabaseClock, useFactory: (local: LocalClock) => new DatabaseClock(local), inject: [LOCAL_CLOCK] },
    DatabaseClockProbe,
    {
      provide: LocalRouteCache,
      useFactory: (config: ResolverConfig, local: LocalClock) =>
        new LocalRouteCache({ maxRoutes: config.CACHE_LOCAL_MAX_ROUTES, maxProofAgeMs: LOCAL_PROOF_MAX_AGE_MS, healthMs: config.CACHE_LOCAL_HEALTH_MS }, local),
      inject: [ResolverConfig, LOCAL_CLOCK],
    },
    ReadTier,
  ],
  exports: [LOCAL_CLOCK, LocalRouteCache, ReadTier, ResolveService],
})
export class ResolveModule {}
