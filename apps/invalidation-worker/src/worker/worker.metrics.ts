import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CONVERGENCE_BUCKETS, METRICS_REGISTRY } from '@tm/platform';

/** What the worker reports at /metrics. */
@Injectable()
export class WorkerMetrics {
  readonly events: Counter;
  readonly applyLag: Histogram;
  readonly consumerLag: Gauge;
  readonly errors: Counter;
  readonly deadLettered: Counter;
  readonly deadLetterFailures: Counter;
  readonly replays: Counter;
  /** Refreshes the consumer lag gauge; called on every scrape. */
  refreshLag: () => Promise<void> = async () => undefined;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    const registers = [registry];
    this.events = new Counter({
      name: 'tm_worker_events_total',
      help: 'Messages by outcome: applied, ignored (older than the cache or a duplicate), dead_lettered, skipped (the dead-letter topic could not take it), replayed (changed the cache again after Redis lost data)',
      labelNames: ['outcome'],
      registers,
    });
    this.applyLag = new Histogram({
      name: 'tm_worker_apply_lag_seconds',
      help: "From the write's commit (the event's time) to the event applied in Redis",
      buckets: CONVERGENCE_BUCKETS,
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
      help: 'Failures by stage (connect, redis, message, dlq, commit, lag); each is retried',
      labelNames: ['stage'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'tm_worker_dead_lettered_total',
      help: 'Messages written to the dead-letter topic, by reason: invalid_event, or redis_<code> after WORKER_MESSAGE_MAX_ATTEMPTS tries (redis_wrongtype, redis_err, redis_other)',
      labelNames: ['reason'],
      registers,
    });
    this.deadLetterFailures = new Counter({
      name: 'tm_worker_dead_letter_failures_total',
      help: 'Dead letters the dead-letter topic refused WORKER_MESSAGE_MAX_ATTEMPTS times, skipped so that their partition goes on (logged at error with their offset), by Kafka error',
      labelNames: ['error'],
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
