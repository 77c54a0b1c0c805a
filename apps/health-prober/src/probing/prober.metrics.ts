import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRICS_REGISTRY } from '@tm/platform';

/** What the prober reports at /metrics. */
@Injectable()
export class ProberMetrics {
  readonly probes: Counter;
  readonly transitions: Counter;
  readonly duration: Histogram;
  readonly targets: Gauge;
  readonly inFlight: Gauge;
  readonly tenantInFlight: Gauge;
  readonly tenantWaiting: Gauge;
  readonly tenantShare: Gauge;
  readonly wait: Histogram;
  readonly watchUp: Gauge;
  readonly verdictWriteFailures: Counter;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    const registers = [registry];
    this.probes = new Counter({
      name: 'tm_prober_probes_total',
      help: "Probes by outcome (success, failure, refused: the address may not be probed, nothing sent) and the route's tenant",
      labelNames: ['outcome', 'tenant'],
      registers,
    });
    this.transitions = new Counter({
      name: 'tm_prober_transitions_total',
      help: "Changes of this prober's verdict on an endpoint, by the verdict it moved to",
      labelNames: ['to'],
      registers,
    });
    this.duration = new Histogram({
      name: 'tm_prober_probe_duration_seconds',
      help: 'Time of one probe (name resolution, connect and, for http, the response headers), by outcome',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.targets = new Gauge({ name: 'tm_prober_targets', help: 'Endpoints this prober probes', registers });
    this.inFlight = new Gauge({ name: 'tm_prober_probes_in_flight', help: 'Probes running now (at most PROBE_MAX_IN_FLIGHT)', registers });
    this.tenantInFlight = new Gauge({
      name: 'tm_prober_tenant_probes_in_flight',
      help: "A tenant's probes running now (at most tm_prober_tenant_share)",
      labelNames: ['tenant'],
      registers,
    });
    this.tenantWaiting = new Gauge({
      name: 'tm_prober_tenant_probes_waiting',
      help: "A tenant's due probes waiting for a slot (its share is taken, or every slot is)",
      labelNames: ['tenant'],
      registers,
    });
    this.tenantShare = new Gauge({
      name: 'tm_prober_tenant_share',
      help: 'The most probes one tenant may run at once: PROBE_MAX_IN_FLIGHT divided by the tenants with probed endpoints, at least 1',
      registers,
    });
    this.wait = new Histogram({
      name: 'tm_prober_probe_wait_seconds',
      help: 'Time from when a probe was due to when it got a slot',
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.watchUp = new Gauge({ name: 'tm_prober_watch_up', help: '1 while the watch of the routes is up and synced', registers });
    this.verdictWriteFailures = new Counter({
      name: 'tm_prober_verdict_write_failures_total',
      help: 'Verdict writes to Redis that failed (retried after the next probe)',
      registers,
    });
  }
}
