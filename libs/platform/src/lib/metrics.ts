import { Controller, Get, Global, Header, Inject, Module, type DynamicModule } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** The app's Prometheus registry; inject it to register the app's own metrics. */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/**
 * Buckets (seconds) of the histograms a write's way to the cache is measured with (the relay's
 * publish latency, the worker's apply lag): fine around the 50 ms convergence goal (G4), so that a
 * p99 read from them says which side of it a hop is, and up to the minutes a backlog may take.
 */
export const CONVERGENCE_BUCKETS = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

@ApiExcludeController()
@Controller('metrics')
class MetricsController {
  constructor(@Inject(METRICS_REGISTRY) private readonly registry: Registry) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}

const PREFIX = 'tm_';
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** `GET /metrics` in Prometheus text format, with the process's default metrics. */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(app: string): DynamicModule {
    const registry = new Registry();
    registry.setDefaultLabels({ app });
    collectDefaultMetrics({ register: registry, prefix: PREFIX });
    // prom-client names three gauges `_total`, a suffix Prometheus keeps for counters (promtool
    // check metrics refuses them). The same counts stay, by type, in tm_nodejs_active_handles,
    // tm_nodejs_active_requests and tm_nodejs_active_resources: the totals are their sum().
    for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(`${PREFIX}${name}`);
    return {
      module: MetricsModule,
      controllers: [MetricsController],
      providers: [{ provide: METRICS_REGISTRY, useValue: registry }],
      exports: [METRICS_REGISTRY],
    };
  }
}
