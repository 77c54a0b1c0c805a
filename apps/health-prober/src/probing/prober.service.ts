import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { routeKey, type HealthCheck, type PolicyEndpoint, type RouteId } from '@tm/contracts';
import type { ReadinessCheck } from '@tm/platform';
import { HealthStore, REDIS_CLIENT, type RedisClient } from '@tm/route-cache';
import { HealthProberConfig } from '../config';
import { AddressRules } from './address-rules';
import { effectiveTimeoutSeconds, probe, type ProbeResult } from './probe';
import { ProbeScheduler, type Schedulable } from './probe-scheduler';
import { ProberMetrics } from './prober.metrics';
import { RouteFeed, type ProbedRoute } from './route-feed';

type OwnVerdict = 'none' | 'healthy' | 'unhealthy' | 'unknown';

/** One endpoint at one health revision, probed on its route's interval. */
interface Target extends Schedulable {
  route: RouteId;
  endpoint: PolicyEndpoint;
  check: HealthCheck;
  /** The check's timeout, capped (effectiveTimeoutSeconds): what its probes use. */
  timeoutSeconds: number;
  /** This prober's verdict: none until a threshold is reached; unknown while the endpoint may not be probed. */
  verdict: OwnVerdict;
  successes: number;
  failures: number;
  lastError: string | null;
  /** When the verdict was last written (performance.now()), and whether a write is owed. */
  writtenAt: number;
  owed: boolean;
  stopped: boolean;
}

/** How long a verdict lives in Redis: about three intervals (plus the timeout used, so a slow probe does not let it lapse). */
function verdictTtlMs(target: Target): number {
  return (3 * target.check.intervalSeconds + target.timeoutSeconds) * 1000;
}

/** An unchanged verdict is written again after this long: well within its TTL, not on every probe. */
function refreshMs(check: HealthCheck): number {
  return 1.5 * check.intervalSeconds * 1000;
}

/**
 * The prober (docs/guarantees.md, "Traffic policies and health"): learns the probed routes from
 * the watch, probes each enabled or draining endpoint on its interval (with jitter; at most
 * PROBE_MAX_IN_FLIGHT at once, shared fairly between tenants: ProbeScheduler) where the address
 * rules let it (AddressRules), applies the thresholds (hysteresis both ways) and writes its
 * verdict to Redis on each change and on a slow refresh. Other replicas do the same on their own;
 * an endpoint's health is the strict majority of their fresh verdicts (HealthStore).
 */
@Injectable()
export class ProberService implements OnApplicationBootstrap, BeforeApplicationShutdown, ReadinessCheck {
  readonly name = 'watch';
  private readonly logger = new Logger('Prober');
  private readonly store: HealthStore;
  private readonly rules: AddressRules;
  private readonly feed: RouteFeed;
  private readonly scheduler: ProbeScheduler<Target>;
  private readonly targets = new Map<string, Target>();
  /** Target keys of each route, to stop them when the route changes. */
  private readonly byRoute = new Map<string, Set<string>>();
  private readonly userAgent: string;

  constructor(
    private readonly config: HealthProberConfig,
    private readonly metrics: ProberMetrics,
    @Inject(REDIS_CLIENT) redis: RedisClient,
  ) {
    this.store = new HealthStore(redis, config.CACHE_KEY_PREFIX, config.REDIS_COMMAND_TIMEOUT_MS);
    this.rules = new AddressRules(config);
    this.scheduler = new ProbeScheduler<Target>((target, release) => this.run(target, release), {
      maxInFlight: config.PROBE_MAX_IN_FLIGHT,
      observer: {
        tenant: (tenant, inFlight, waiting) => {
          this.metrics.tenantInFlight.set({ tenant }, inFlight);
          this.metrics.tenantWaiting.set({ tenant }, waiting);
          this.metrics.inFlight.set(this.scheduler.inFlight);
        },
        gone: (tenant) => {
          this.metrics.tenantInFlight.remove({ tenant });
          this.metrics.tenantWaiting.remove({ tenant });
        },
        started: (_tenant, waitedMs) => this.metrics.wait.observe(waitedMs / 1000),
        share: (share) => this.metrics.tenantShare.set(share),
      },
      onError: (target, e) => this.logger.warn(`probe of ${target.key}: ${e instanceof Error ? e.message : String(e)}`),
    });
    this.userAgent = `traffic-manager-health-prober/1 (${config.PROBER_ID})`;
    this.feed = new RouteFeed(config.RESOLVER_URL, config.PROBER_API_KEY, {
      replaced: (routes) => this.replaceAll(routes),
      changed: (key, route) => this.sync(key, route),
      connection: (up, reason) => {
        this.metrics.watchUp.set(up ? 1 : 0);
        if (up) this.logger.log('watch: synced');
        else this.logger.warn(`watch: down (${reason ?? 'unknown'}); probing what it knows`);
      },
    });
  }

  onApplicationBootstrap(): void {
    this.logger.log(`prober ${this.config.PROBER_ID}: ${this.rules.describe()}`);
    this.logger.log(
      `prober ${this.config.PROBER_ID}: at most ${this.config.PROBE_MAX_IN_FLIGHT} probes at once, shared between tenants; timeouts at most ${this.config.PROBE_MAX_TIMEOUT_SECONDS} s (PROBE_MAX_TIMEOUT_SECONDS) and the interval`,
    );
    this.feed.start();
  }

  /** Ready once the watch has given the routes to probe (a prober that knows none probes nothing). */
  async check(): Promise<void> {
    if (!this.feed.synced) throw new Error('the watch of the routes is not synced');
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.feed.stop();
    for (const target of this.targets.values()) target.stopped = true;
    this.targets.clear();
    this.metrics.targets.set(0);
    await this.scheduler.stop();
  }

  private replaceAll(routes: ReadonlyMap<string, ProbedRoute>): void {
    for (const key of [...this.byRoute.keys()]) if (!routes.has(key)) this.sync(key, undefined);
    for (const [key, route] of routes) this.sync(key, route);
  }

  /** Makes the targets of one route what its current state asks for. */
  private sync(key: string, route: ProbedRoute | undefined): void {
    const wanted = new Map<string, PolicyEndpoint>();
    for (const e of route?.endpoints ?? []) {
      if (e.state === 'disabled') continue;
      wanted.set(`${key}|${e.id}|${e.healthRevision}`, e);
    }
    const current = this.byRoute.get(key) ?? new Set<string>();
    for (const targetKey of current) {
      const target = this.targets.get(targetKey);
      if (!target) continue;
      if (!wanted.has(targetKey)) {
        target.stopped = true;
        this.scheduler.remove(targetKey);
        this.targets.delete(targetKey);
      } else {
        // Same endpoint id, URL and check (a new health revision otherwise): only its state or weight may have changed.
        target.endpoint = wanted.get(targetKey) as PolicyEndpoint;
      }
    }
    const next = new Set<string>();
    for (const [targetKey, endpoint] of wanted) {
      next.add(targetKey);
      if (!this.targets.has(targetKey) && route) this.begin(targetKey, route, endpoint);
    }
    if (next.size === 0) this.byRoute.delete(key);
    else this.byRoute.set(key, next);
    this.metrics.targets.set(this.targets.size);
  }

  private begin(key: string, route: ProbedRoute, endpoint: PolicyEndpoint): void {
    const target: Target = {
      key,
      tenant: route.id.tenant,
      intervalMs: route.healthCheck.intervalSeconds * 1000,
      route: route.id,
      endpoint,
      check: route.healthCheck,
      timeoutSeconds: effectiveTimeoutSeconds(route.healthCheck, this.config.PROBE_MAX_TIMEOUT_SECONDS),
      verdict: 'none',
      successes: 0,
      failures: 0,
      lastError: null,
      writtenAt: 0,
      owed: false,
      stopped: false,
    };
    this.targets.set(key, target);
    // The first probe at a random point of the first interval: replicas and routes spread out.
    this.scheduler.add(target);
  }

  /** One probe in its slot, then (the slot released) its verdict and the verdict's write. */
  private async run(target: Target, release: () => void): Promise<void> {
    const began = performance.now();
    let result: ProbeResult;
    try {
      result = await probe(target.endpoint.url, target.check, {
        rules: this.rules,
        userAgent: this.userAgent,
        rejectUnauthorized: this.config.PROBE_TLS_REJECT_UNAUTHORIZED,
        timeoutSeconds: target.timeoutSeconds,
      });
    } finally {
      release();
    }
    this.metrics.probes.inc({ outcome: result.outcome, tenant: target.tenant });
    this.metrics.duration.observe({ outcome: result.outcome }, (performance.now() - began) / 1000);
    if (!target.stopped) await this.judge(target, result);
  }

  /** Applies the thresholds to a probe's result, and writes the verdict when it changed, is owed, or is due a refresh. */
  private async judge(target: Target, result: ProbeResult): Promise<void> {
    const before = target.verdict;
    if (result.outcome === 'refused') {
      target.verdict = 'unknown';
      target.successes = 0;
      target.failures = 0;
      target.lastError = result.error;
    } else if (result.outcome === 'success') {
      target.successes++;
      target.failures = 0;
      if (target.verdict !== 'healthy' && target.successes >= target.check.healthyThreshold) target.verdict = 'healthy';
    } else {
      target.failures++;
      target.successes = 0;
      target.lastError = result.error;
      if (target.verdict !== 'unhealthy' && target.failures >= target.check.unhealthyThreshold) target.verdict = 'unhealthy';
    }
    const changed = target.verdict !== before;
    if (changed && (target.verdict === 'healthy' || target.verdict === 'unhealthy')) {
      this.metrics.transitions.inc({ to: target.verdict });
      this.logger.log(`${routeKey(target.route)} ${target.endpoint.id}: ${before} -> ${target.verdict}${result.outcome === 'success' ? '' : ` (${target.lastError ?? ''})`}`);
    }
    if (target.verdict === 'none') return;
    const due = performance.now() - target.writtenAt >= refreshMs(target.check);
    if (!changed && !target.owed && !due) return;
    try {
      await this.store.recordVerdict(target.route, target.endpoint, {
        prober: this.config.PROBER_ID,
        health: target.verdict,
        error: result.outcome === 'success' ? null : target.lastError,
        ttlMs: verdictTtlMs(target),
        timeoutSeconds: target.timeoutSeconds,
      });
      target.writtenAt = performance.now();
      target.owed = false;
    } catch (e) {
      target.owed = true;
      this.metrics.verdictWriteFailures.inc();
      this.logger.warn(`verdict of ${target.key} not written: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
