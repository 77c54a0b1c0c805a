import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { routeKey, type HealthCheck, type PolicyEndpoint, type RouteId } from '@tm/contracts';
import type { ReadinessCheck } from '@tm/platform';
import { HealthStore, REDIS_CLIENT, type RedisClient } from '@tm/route-cache';
import { HealthProberConfig } from '../config';
import { denyList, type DenyList } from './deny-list';
import { probe, type ProbeResult } from './probe';
import { ProberMetrics } from './prober.metrics';
import { RouteFeed, type ProbedRoute } from './route-feed';

type OwnVerdict = 'none' | 'healthy' | 'unhealthy' | 'unknown';

/** One endpoint at one health revision, probed on its route's interval. */
interface Target {
  key: string;
  route: RouteId;
  endpoint: PolicyEndpoint;
  check: HealthCheck;
  timer: NodeJS.Timeout | undefined;
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

/** How long a verdict lives in Redis: about three intervals (plus a timeout, so a slow probe does not let it lapse). */
function verdictTtlMs(check: HealthCheck): number {
  return (3 * check.intervalSeconds + check.timeoutSeconds) * 1000;
}

/** An unchanged verdict is written again after this long: well within its TTL, not on every probe. */
function refreshMs(check: HealthCheck): number {
  return 1.5 * check.intervalSeconds * 1000;
}

/**
 * The prober (docs/guarantees.md, "Traffic policies and health"): learns the probed routes from
 * the watch, probes each enabled or draining endpoint on its interval (with jitter, at most
 * PROBE_MAX_IN_FLIGHT at once), applies the thresholds (hysteresis both ways) and writes its
 * verdict to Redis on each change and on a slow refresh. Other replicas do the same on their own;
 * an endpoint's health is the strict majority of their fresh verdicts (HealthStore).
 */
@Injectable()
export class ProberService implements OnApplicationBootstrap, BeforeApplicationShutdown, ReadinessCheck {
  readonly name = 'watch';
  private readonly logger = new Logger('Prober');
  private readonly store: HealthStore;
  private readonly deny: DenyList;
  private readonly feed: RouteFeed;
  private readonly targets = new Map<string, Target>();
  /** Target keys of each route, to stop them when the route changes. */
  private readonly byRoute = new Map<string, Set<string>>();
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly userAgent: string;

  constructor(
    private readonly config: HealthProberConfig,
    private readonly metrics: ProberMetrics,
    @Inject(REDIS_CLIENT) redis: RedisClient,
  ) {
    this.store = new HealthStore(redis, config.CACHE_KEY_PREFIX, config.REDIS_COMMAND_TIMEOUT_MS);
    this.deny = denyList(config.PROBE_DENY_CIDRS);
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
    this.logger.log(`prober ${this.config.PROBER_ID}: refusing ${this.deny.cidrs.length === 0 ? 'no addresses' : this.deny.cidrs.join(', ')}`);
    this.feed.start();
  }

  /** Ready once the watch has given the routes to probe (a prober that knows none probes nothing). */
  async check(): Promise<void> {
    if (!this.feed.synced) throw new Error('the watch of the routes is not synced');
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.feed.stop();
    for (const target of this.targets.values()) this.stop(target);
    this.targets.clear();
    this.metrics.targets.set(0);
    await Promise.allSettled([...this.inFlight]);
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
        this.stop(target);
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
      route: route.id,
      endpoint,
      check: route.healthCheck,
      timer: undefined,
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
    this.schedule(target, Math.random() * target.check.intervalSeconds * 1000);
  }

  private stop(target: Target): void {
    target.stopped = true;
    clearTimeout(target.timer);
  }

  private schedule(target: Target, delayMs: number): void {
    if (target.stopped) return;
    target.timer = setTimeout(() => {
      const run = this.run(target).catch((e: unknown) => this.logger.warn(`probe of ${target.key}: ${e instanceof Error ? e.message : String(e)}`));
      this.inFlight.add(run);
      void run.finally(() => this.inFlight.delete(run));
    }, delayMs);
  }

  /** One probe, its verdict, its write, and the next probe one interval (with 5% jitter) after this one began. */
  private async run(target: Target): Promise<void> {
    const began = performance.now();
    const periodMs = target.check.intervalSeconds * 1000 * (0.95 + Math.random() * 0.1);
    try {
      await this.slot();
      if (target.stopped) return;
      let result: ProbeResult;
      try {
        this.metrics.inFlight.set(this.running);
        result = await probe(target.endpoint.url, target.check, {
          denyList: this.deny,
          userAgent: this.userAgent,
          rejectUnauthorized: this.config.PROBE_TLS_REJECT_UNAUTHORIZED,
        });
      } finally {
        this.release();
      }
      this.metrics.probes.inc({ outcome: result.outcome });
      this.metrics.duration.observe({ outcome: result.outcome }, (performance.now() - began) / 1000);
      if (!target.stopped) await this.judge(target, result);
    } finally {
      this.schedule(target, Math.max(0, periodMs - (performance.now() - began)));
    }
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
        ttlMs: verdictTtlMs(target.check),
      });
      target.writtenAt = performance.now();
      target.owed = false;
    } catch (e) {
      target.owed = true;
      this.metrics.verdictWriteFailures.inc();
      this.logger.warn(`verdict of ${target.key} not written: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private slot(): Promise<void> {
    if (this.running < this.config.PROBE_MAX_IN_FLIGHT) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.waiting.push(() => {
        this.running++;
        resolve();
      }),
    );
  }

  private release(): void {
    this.running--;
    this.waiting.shift()?.();
    this.metrics.inFlight.set(this.running);
  }
}
