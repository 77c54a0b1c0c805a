import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CONVERGENCE_BUCKETS, METRICS_REGISTRY } from '@tm/platform';

/** What the relay reports at /metrics. */
@Injectable()
export class RelayMetrics {
  readonly leader: Gauge;
  readonly backlogRows: Gauge;
  readonly oldestAge: Gauge;
  readonly publishLatency: Histogram;
  readonly batches: Counter;
  readonly published: Counter;
  readonly errors: Counter;
  readonly retained: Counter;
  /** Refreshes the backlog gauges; called on every scrape. */
  refreshBacklog: () => Promise<void> = async () => undefined;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    const registers = [registry];
    this.leader = new Gauge({ name: 'tm_relay_leader', help: '1 while this replica leads (publishes), else 0', labelNames: ['replica'], registers });
    this.backlogRows = new Gauge({
      name: 'tm_outbox_backlog_rows',
      help: 'Outbox rows not yet published',
      registers,
      collect: () => this.refreshBacklog(),
    });
    this.oldestAge = new Gauge({
      name: 'tm_outbox_oldest_unpublished_age_seconds',
      help: 'Age of the oldest unpublished outbox row (0 when none)',
      registers,
      collect: () => this.refreshBacklog(),
    });
    this.publishLatency = new Histogram({
      name: 'tm_relay_publish_latency_seconds',
      help: 'From the write (its revision taken, just before commit) to the Kafka acknowledgement',
      buckets: CONVERGENCE_BUCKETS,
      registers,
    });
    this.batches = new Counter({ name: 'tm_relay_batches_total', help: 'Batches published to Kafka', registers });
    this.published = new Counter({ name: 'tm_relay_published_total', help: 'Outbox rows published to Kafka', registers });
    this.errors = new Counter({
      name: 'tm_relay_errors_total',
      help: 'Failures by stage (topic, read, publish, mark, position, retention); each is retried',
      labelNames: ['stage'],
      registers,
    });
    this.retained = new Counter({ name: 'tm_outbox_deleted_total', help: 'Published rows deleted by retention', registers });
  }
}
