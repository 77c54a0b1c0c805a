import { Module } from '@nestjs/common';
import { ResolveController } from './resolve.controller';
import { ResolveService } from './resolve.service';
import { RESOLVER_HOOKS, type ResolverHooks } from './resolver-hooks';
import { ResolverMetrics } from './resolver.metrics';

const noHooks: ResolverHooks = {};

@Module({
  controllers: [ResolveController],
  providers: [ResolveService, ResolverMetrics, { provide: RESOLVER_HOOKS, useValue: noHooks }],
})
export class ResolveModule {}
