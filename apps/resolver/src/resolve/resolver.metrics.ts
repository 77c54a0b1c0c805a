import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, type Registry } from 'prom-client';
import { HotCounter, HotHistogram, METRICS_REGISTRY } from '@tm/platform';
import { LocalRouteCache } from './local-cache';

/** What the resolver reports at /metrics. */
@Injectable()
export class ResolverMetrics {
  readonly answers: HotCounter<'cache' | 'status'>;
  readonly duration: HotHistogram<'cache'>;
  readonly databaseReads: Counter;
  readonly singleFlightJoins: Counter;
  readonly fills: Counter;
  readonly redisErrors: Counter;
  readonly breakerOpen: Gauge;
  readonly databaseClockOffset: Gauge;
  readonly selections: HotCounter<'outcome'>;
  readonly localHits: HotCounter;
  readonly readsByTarget: Counter;
  readonly replicaSkips: Counter;
  readonly replicaUp: Gauge;
  readonly replicaRevision: Gauge;
  readonly primaryRevisionReads: Counter;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, local: LocalRouteCache) {
    const registers = [registry];
    // Counted on every answer: hot metrics (libs/platform hot-metrics.ts).
    this.localHits = new HotCounter({
      name: 'tm_resolver_local_hits_total',
      help: "Hits answered from this replica's memory, with no Redis round trip (of tm_resolver_answers_total's HIT)",
      registers,
    });
    new Gauge({
      name: 'tm_resolver_local_routes',
      help: "Routes whose answers this replica holds in memory (CACHE_LOCAL_MAX_ROUTES at most)",
      registers,
      collect() {
        this.set(local.size);
      },
    });
    this.answers = new HotCounter({
      name: 'tm_resolver_answers_total',
      help: 'Resolve answers by X-Cache outcome and status',
      labelNames: ['cache', 'status'],
      registers,
    });
    this.duration = new HotHistogram({
      name: 'tm_resolver_duration_seconds',
      help: 'Time to resolve (auth excluded), by X-Cache outcome',
      labelNames: ['cache'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.databaseReads = new Counter({ name: 'tm_resolver_database_reads_total', help: 'Reads of a route from PostgreSQL', registers });
    this.singleFlightJoins = new Counter({
      name: 'tm_resolver_single_flight_joins_total',
      help: 'Misses that joined a database read already under way for the same route',
      registers,
    });
    this.fills = new Counter({
      name: 'tm_resolver_fills_total',
      help: 'Cache fills by outcome: accepted, rejected (older than the cache or its fence), refused (the lease taken before the database read is gone: Redis lost data, failed over, or a newer fill took it), failed',
      labelNames: ['outcome'],
      registers,
    });
    this.redisErrors = new Counter({ name: 'tm_resolver_redis_errors_total', help: 'Redis commands that failed or timed out', registers });
    this.breakerOpen = new Gauge({ name: 'tm_resolver_redis_breaker_open', help: '1 while the Redis circuit breaker is open', registers });
    this.selections = new HotCounter({
      name: 'tm_resolver_selections_total',
      help: 'Endpoint selections of multi-endpoint or probed routes by outcome: picked, fail_open (every candidate unhealthy: one was picked anyway), no_enabled_endpoint',
      labelNames: ['outcome'],
      registers,
    });
    this.readsByTarget = new Counter({
      name: 'tm_resolver_database_reads_by_target_total',
      help: 'Database reads of the read tier by kind (miss, strong, snapshot, history) and target (primary, replica)',
      labelNames: ['read', 'target'],
      registers,
    });
    this.replicaSkips = new Counter({
      name: 'tm_resolver_replica_skips_total',
      help: 'Reads a replica did not serve, by reason: down, error, timeout, behind (it had not replayed the revision the read needs), paused (WAL replay paused), not_replica (not in recovery)',
      labelNames: ['reason', 'replica'],
      registers,
    });
    this.replicaUp = new Gauge({
      name: 'tm_resolver_replica_up',
      help: '1 while a read replica answers, is in recovery and replays; 0 otherwise (the primary serves its reads)',
      labelNames: ['replica'],
      registers,
    });
    this.replicaRevision = new Gauge({
      name: 'tm_resolver_replica_revision',
      help: 'The store revision a read replica had replayed at its last check',
      labelNames: ['replica'],
      registers,
    });
    this.primaryRevisionReads = new Counter({
      name: 'tm_resolver_primary_revision_reads_total',
      help: "Reads of the primary's revision by the read tier (one per batch of strong reads, or when the watch feed's proof is old)",
      registers,
    });
    this.databaseClockOffset = new Gauge({
      name: 'tm_resolver_database_clock_offset_seconds',
      help: "The database's clock minus this machine's wall clock, as last sampled (ages in the cache are judged on the database's)",
      registers,
    });
  }
}
