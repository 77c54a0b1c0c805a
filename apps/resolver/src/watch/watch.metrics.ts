import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { quotaRefusals } from '@tm/limits';
import { CONVERGENCE_BUCKETS, METRICS_REGISTRY } from '@tm/platform';

/** What the watch reports at /metrics. */
@Injectable()
export class WatchMetrics {
  readonly streams: Gauge;
  readonly opened: Counter;
  readonly closed: Counter;
  readonly eventsSent: Counter;
  readonly bookmarksSent: Counter;
  readonly feedRevision: Gauge;
  readonly feedReads: Counter;
  readonly feedGaps: Counter;
  readonly feedProofAge: Gauge;
  readonly historyReads: Counter;
  readonly feedDelay: Histogram;
  /** tm_quota_refusals_total, shared with the rate limit: streams refused by a limit. */
  readonly refused: Counter<'limit' | 'tenant'>;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    const registers = [registry];
    this.streams = new Gauge({ name: 'tm_resolver_watch_streams', help: 'Open watch streams on this replica', registers });
    this.opened = new Counter({
      name: 'tm_resolver_watch_streams_opened_total',
      help: 'Watch streams opened, by how they start (snapshot, memory: resumed from this replica\'s memory, outbox: resumed from the outbox)',
      labelNames: ['start'],
      registers,
    });
    this.closed = new Counter({
      name: 'tm_resolver_watch_streams_closed_total',
      help:
        'Watch streams closed, by reason (client, slow: too many unread events or congested too long, shutdown, gap, error, health-gap: health events may have been missed, revoked: its key was revoked or deleted, tenant-gone: its tenant was deleted and its slug reused)',
      labelNames: ['reason'],
      registers,
    });
    this.refused = quotaRefusals(registry);
    this.eventsSent = new Counter({ name: 'tm_resolver_watch_events_sent_total', help: 'put and delete events written to watch streams', registers });
    this.bookmarksSent = new Counter({ name: 'tm_resolver_watch_bookmarks_sent_total', help: 'Bookmarks written to watch streams', registers });
    this.feedRevision = new Gauge({ name: 'tm_resolver_watch_feed_revision', help: 'The revision up to which the feed has read the outbox', registers });
    this.feedReads = new Counter({
      name: 'tm_resolver_watch_feed_reads_total',
      help: 'Reads of the outbox by the feed, by outcome (ok, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.feedGaps = new Counter({
      name: 'tm_resolver_watch_feed_gaps_total',
      help: 'Times the feed found revisions missing from the outbox (it fell behind retention): every stream was closed to resume',
      registers,
    });
    this.feedProofAge = new Gauge({
      name: 'tm_resolver_watch_feed_proof_age_seconds',
      help: 'How long ago the feed last proved it had every change up to the store\'s revision (grows while PostgreSQL is down)',
      registers,
    });
    this.historyReads = new Counter({ name: 'tm_resolver_watch_history_reads_total', help: 'Pages of the outbox read to resume a stream older than memory', registers });
    this.feedDelay = new Histogram({
      name: 'tm_resolver_watch_feed_delay_seconds',
      help: 'From a write\'s commit to the feed\'s read of it, both on the database\'s clock',
      buckets: CONVERGENCE_BUCKETS,
      registers,
    });
  }
}
