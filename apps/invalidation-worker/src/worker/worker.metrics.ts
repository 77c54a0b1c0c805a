import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRICS_REGISTRY } from '@tm/platform';

/** What the worker reports at /metrics. */
@Injectable()
export class WorkerMetrics {
  readonly events: Counter;
  readonly applyLag: Histogram;
  readonly consumerLag: Gauge;
  readonly errors: Counter;
  readonly replays: Counter;
  /** Refreshes the consumer lag gauge; called on every scrape. */
  refreshLag: () => Promise<void> = async () => undefined;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    const registers = [registry];
    this.events = new Counter({
      name: 'tm_worker_events_total',
      help: 'Route events by outcome: applied, ignored (older than the cache or a duplicate), dead_lettered, replayed (changed the cache again after Redis lost data)',
      labelNames: ['outcome'],
      registers,
    });
    this.applyLag = new Histogram({
      name: 'tm_worker_apply_lag_seconds',
      help: "From the write's commit (the event's time) to the event applied in Redis",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.consumerLag = new Gauge({
      name: 'tm_worker_consumer_lag',
      help: 'Messages not yet committed by the consumer group, per partition',
      labelNames: ['partition'],
      registers,
      collect: () => this.refreshLag(),
    });
    this.errors = new Counter({
      name: 'tm_worker_errors_total',
      help: 'Failures by stage (connect, redis, dlq, commit, lag); each is retried',
      labelNames: ['stage'],
      registers,
    });
    this.replays = new Counter({
      name: 'tm_worker_replays_total',
      help: 'Replays of the recent events after a Redis master became a new process (restart or failover), by outcome: done, failed (retried)',
      labelNames: ['outcome'],
      registers,
    });
  }
}
