import { mkdir } from 'node:fs/promises';
import { TEST_ADMIN_TOKEN } from '@tm/testing';
import { createKey, createTenant } from './api-keys';
import { check, type CheckResult } from './check';
import { ALL_FAULTS, type FaultName, type FaultWindow, type FinalState, type Op } from './history';
import { saveRun, type SavedRun } from './saved';
import { SystemUnderTest } from './system';
import { SdkSession } from './sdk-clients';
import { Victim } from './victim';
import { Watcher, type WatcherSpec } from './watchers';
import { now, random, readAll, Workload, type WorkloadTarget } from './workload';

export interface RunOptions {
  /** How long clients run, ms; every fault is injected at least once whatever it is. */
  durationMs: number;
  /** How long a fault lasts before it is healed: [min, max] ms. */
  holdMs: [number, number];
  /** Calm time after each heal, ms. */
  quietMs: number;
  faults: FaultName[];
  ttlSeconds: number;
  /** The resolvers' AUTH_CACHE_TTL_MS, short enough that rule R bites within a fault's hold. */
  authCacheTtlMs: number;
  clients: number;
  /** Sessions that run through the SDK (memory answers included), beside the HTTP clients. */
  sdkClients: number;
  seed: number;
  /** 1: a single Kafka broker (the default); 3: a KRaft cluster, topic RF 3 and min ISR 2 (`--kafka-brokers 3`). */
  kafkaBrokers: number;
  /** Run on a Redis Cluster of its own (`--redis-cluster`) instead of one redis-server. */
  redisCluster?: boolean;
  /** Run on a PostgreSQL primary and streaming replica of its own, the resolvers reading the replica (`--replica`). */
  replica?: boolean;
  /** Where history.jsonl and report.txt go. */
  outDir: string;
  log: (line: string) => void;
  /** Aborting ends the run early: the fault is healed, the system stopped, nothing checked. */
  signal?: AbortSignal;
}

/** A run and its verdict. */
export interface RunOutcome extends SavedRun {
  result: CheckResult;
}

export const SHORT_RUN: Omit<RunOptions, 'outDir' | 'log' | 'seed'> = {
  durationMs: 55_000,
  holdMs: [3_000, 3_000],
  quietMs: 3_500,
  faults: ALL_FAULTS,
  ttlSeconds: 3,
  authCacheTtlMs: 1_000,
  clients: 8,
  sdkClients: 4,
  kafkaBrokers: 1,
};

export const LONG_RUN: Omit<RunOptions, 'outDir' | 'log' | 'seed'> = {
  ...SHORT_RUN,
  durationMs: 10 * 60_000,
  holdMs: [1_000, 8_000],
  quietMs: 5_000,
};

/** Route keys the clients share: few, so that operations collide; ten, so that a change set may hold up to ten. */
const KEYS = [
  'acme/checkout/prod',
  'acme/checkout/staging',
  'acme/search/prod',
  'acme/search/eu-canary',
  'acme/payments/prod',
  'acme/payments/staging',
  'globex/billing/prod',
  'globex/billing/dev',
  'globex/ledger/prod',
  'globex/ledger/dev',
];

/** Share of the HTTP clients' operations that are change sets (POST /v1/changes). */
const SET_SHARE = 0.2;

/**
 * The watch clients of a run: per tenant, a stream of the tenant and one of `/v1/watch` with its
 * stored key (which gets its own tenant), and one of every tenant with the admin token.
 */
function watcherSpecs(tokens: Map<string, string>): WatcherSpec[] {
  const specs: WatcherSpec[] = [];
  for (const [tenant, token] of tokens) {
    specs.push({ name: `${tenant} /v1/watch/${tenant}`, path: `/v1/watch/${tenant}`, token, tenant });
    specs.push({ name: `${tenant} /v1/watch`, path: '/v1/watch', token, tenant });
  }
  specs.push({ name: 'admin /v1/watch', path: '/v1/watch', token: TEST_ADMIN_TOKEN, tenant: null });
  return specs;
}

/**
 * A stored `routes:write` key bound to each tenant of `keys`, created through the command API with the
 * admin token: the clients authenticate as real ones do (the admin token needs no database, so it
 * would hide what an outage does to everyone else).
 */
export async function tenantKeys(commandApi: string, keys: string[]): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (const tenant of new Set(keys.map(tenantOf))) {
    await createTenant(commandApi, tenant);
    tokens.set(tenant, (await createKey(commandApi, `consistency-${tenant}`, tenant, ['routes:write'])).key);
  }
  return tokens;
}

const tenantOf = (key: string): string => key.split('/')[0] as string;

/**
 * The revoked victim keys whose outage credential is in Redis as a PostgreSQL cut begins: those a
 * resolver may recall during it (rule R excuses them there). A key revoked and not verified since
 * keeps its credential (docs: "a key revoked before an outage and not presented since"); one the
 * database called revoked has lost it, and no verification can bring it back while the database
 * is cut. The current key is verified all the time, so its credential must be there: if it is not,
 * what Redis holds cannot be told, and the window says nothing (R then excuses every revoked key).
 */
async function rememberedAtCut(system: SystemUnderTest, victim: Victim, log: (line: string) => void): Promise<string[] | undefined> {
  try {
    const found = await system.outageCredentials([victim.token, ...victim.revoked.map((r) => r.token)]);
    if (found.has(victim.token)) return victim.revoked.filter((r) => found.has(r.token)).map((r) => r.credential);
    log('  (the current victim key has no outage credential in Redis: which revoked keys have one is not known)');
  } catch (e) {
    log(`  (outage credentials not read: ${e instanceof Error ? e.message : String(e)})`);
  }
  return undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => (clearTimeout(timer), resolve());
    const timer = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The checker with the run's settings: the TTLs, and 2 s after each heal for recovery. */
export function checkRun(history: Op[], faults: FaultWindow[], final: FinalState, ttlSeconds: number, authCacheTtlMs: number): CheckResult {
  return check(history, faults, final, { ttlMs: ttlSeconds * 1000, authCacheTtlMs, recoveryMs: 2_000 });
}

/** The resolver's AUTH_CACHE_TTL_MS when none is set: what runs saved before the revoke fault ran with. */
const DEFAULT_AUTH_CACHE_TTL_MS = 5_000;

/** A saved run checked again (`--recheck`), whatever version of the checker saved it. */
export function checkSaved(saved: SavedRun): CheckResult {
  return checkRun(saved.history, saved.faults, saved.final, saved.ttlSeconds, saved.authCacheTtlMs ?? DEFAULT_AUTH_CACHE_TTL_MS);
}

/**
 * Starts the system, runs the clients while injecting faults, drains, checks. Whatever throws (a
 * fault that cannot be injected or healed, the drain, the checker), the clients and every process
 * of the run are stopped before the error goes out.
 */
export async function runConsistencyCheck(options: RunOptions): Promise<RunOutcome> {
  await mkdir(options.outDir, { recursive: true });
  const system = await SystemUnderTest.start({
    ttlSeconds: options.ttlSeconds,
    authCacheTtlMs: options.authCacheTtlMs,
    resolvers: 2,
    relays: 2,
    kafkaBrokers: options.kafkaBrokers,
    log: options.log,
    ...(options.redisCluster ? { redisCluster: true } : {}),
    ...(options.replica ? { replica: true } : {}),
  });
  let workload: Workload | undefined;
  let watchers: Watcher[] = [];
  let victim: Victim | undefined;
  let sdk: SdkSession[] = [];
  let sdkStopped = false;
  let sdkRunning: Promise<unknown> | undefined;
  let readsByTarget: Record<string, number> | undefined;
  const stopSdk = async () => {
    sdkStopped = true;
    await sdkRunning;
    await Promise.all(sdk.map((s) => s.close()));
  };
  // The clients first (they would otherwise run on against the stopped system, and keep the
  // process alive), then the system; what failed is logged and returned.
  const stop = async (): Promise<unknown[]> => {
    const stopped = [
      ...(await Promise.allSettled([workload?.stop(), stopSdk(), victim?.stop(), ...watchers.map((w) => w.stop())])),
      ...(await Promise.allSettled([system.stop()])),
      // After the stop, so that the logs end with each app's shutdown.
      ...(await Promise.allSettled([system.saveLogs(options.outDir)])),
    ];
    const errors = stopped.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    for (const e of errors) options.log(`stopping the run: ${e instanceof Error ? e.message : String(e)}`);
    return errors;
  };
  let outcome: RunOutcome;
  try {
    const tokens = await tenantKeys(system.commandApi, KEYS);
    // Change sets span both tenants: their key is bound to none.
    const setToken = (await createKey(system.commandApi, 'consistency-sets', null, ['routes:write'])).key;
    const target: WorkloadTarget = {
      commandApi: system.commandApi,
      resolvers: () => system.resolverUrls,
      tokenFor: (key) => tokens.get(key.split('/')[0] as string) as string,
      keys: KEYS,
      setToken,
    };
    workload = new Workload(target, { clients: options.clients, writeShare: 0.35, setShare: SET_SHARE, thinkMs: 10, timeoutMs: 10_000, seed: options.seed });
    watchers = watcherSpecs(tokens).map((spec) => new Watcher(spec, () => system.resolverUrls));
    for (const w of watchers) w.start();
    const history = workload.history;
    const tenants = [...tokens.keys()];
    const victimTenant = tenants[options.seed % tenants.length] as string;
    victim = new Victim(
      {
        commandApi: system.commandApi,
        resolvers: () => system.resolverUrls,
        tenant: victimTenant,
        keys: KEYS.filter((k) => tenantOf(k) === victimTenant),
        client: options.clients + options.sdkClients,
        thinkMs: 10,
        timeoutMs: 10_000,
        seed: options.seed,
      },
      history,
    );
    await victim.start();
    sdk = Array.from(
      { length: options.sdkClients },
      (_, i) => new SdkSession(target, { maxStalenessMs: options.ttlSeconds * 1000, timeoutMs: 10_000, writeShare: 0.35, thinkMs: 10, seed: options.seed }, options.clients + i),
    );
    const rand = random(options.seed);
    const startedAt = now();
    options.log(`${options.clients} clients on ${KEYS.length} routes for ${Math.round(options.durationMs / 1000)} s; faults: ${options.faults.join(', ')}`);
    workload.start();
    sdkRunning = Promise.all(sdk.map((s) => s.run(history, () => sdkStopped)));
    const faults: FaultWindow[] = [];
    const signal = options.signal;
    await sleep(options.quietMs, signal);
    for (let round = 0; !signal?.aborted && (round === 0 || now() - startedAt < options.durationMs - options.quietMs); round++) {
      const order = [...options.faults].sort(() => rand() - 0.5);
      for (const fault of order) {
        if (signal?.aborted || (round > 0 && now() - startedAt >= options.durationMs - options.quietMs)) break;
        const start = now();
        const window: Omit<FaultWindow, 'healed'> = { fault, start };
        if (fault === 'revoke') Object.assign(window, await victim.revoke());
        else {
          const hit = await system.inject(fault, (n) => Math.floor(rand() * n));
          if (fault === 'resolver-kill' && hit !== undefined) window.resolver = hit;
          if (fault === 'kafka-leader-kill' && hit !== undefined) window.broker = hit;
          if (fault === 'postgres-cut') {
            const remembered = await rememberedAtCut(system, victim, options.log);
            if (remembered) window.remembered = remembered;
          }
        }
        await sleep(options.holdMs[0] + rand() * (options.holdMs[1] - options.holdMs[0]), signal);
        await (fault === 'revoke' ? victim.renew() : system.heal(fault));
        faults.push({ ...window, healed: now() });
        options.log(`  ${fault.padEnd(17)} at ${((start - startedAt) / 1000).toFixed(1)} s, healed after ${((now() - start) / 1000).toFixed(1)} s`);
        await sleep(options.quietMs, signal);
      }
    }
    const rest = options.durationMs - (now() - startedAt);
    if (rest > 0) await sleep(rest, signal);
    await Promise.all([workload.stop(), stopSdk(), victim.stopReading()]);
    if (signal?.aborted) throw new Error('interrupted: the system was stopped, nothing was checked');
    // What the replica served (a resolver restarted by a fault counts from its restart).
    if (options.replica) readsByTarget = await system.readsByTarget();
    options.log(`${workload.history.length} operations; draining`);
    const drained = await system.drain(120_000);
    const [outbox, routes, cache, topic] = await Promise.all([system.outbox(), system.routes(), system.cache(), system.topicEvents()]);
    const finalReads = (await Promise.all(system.resolverUrls.map((url, i) => readAll(target, i, url)))).flat();
    // Each watcher's last bookmark reaches the store's revision (the checker flags one that does not);
    // not those of revoked keys: they are refused.
    const storeRevision = outbox.reduce((m, r) => Math.max(m, r.revision), 0);
    const live = [...watchers, victim.currentWatcher];
    for (const deadline = now() + 30_000; live.some((w) => w.lastBookmark < storeRevision) && now() < deadline; ) await sleep(100);
    await Promise.all([...watchers.map((w) => w.stop()), victim.stop()]);
    const final: FinalState = { outbox, routes, cache, topic, finalReads, drainMs: drained.ms, watchers: [...watchers, ...victim.watchers].map((w) => w.log) };
    if (drained.stuck) {
      // What the worker and the relays said last is the first clue (every app's log is in <out>/logs).
      const said = [...system.tail('invalidation-worker', 15), ...system.tail('outbox-relay', 5)];
      final.stuck = `the system did not drain within 120 s: ${drained.stuck}; the last lines of the worker and the relays:\n${said.join('\n')}`;
    }
    const result = checkRun(workload.history, faults, final, options.ttlSeconds, options.authCacheTtlMs);
    const saved: SavedRun = {
      history: workload.history,
      faults,
      final,
      ttlSeconds: options.ttlSeconds,
      authCacheTtlMs: options.authCacheTtlMs,
      clients: options.clients,
      seed: options.seed,
      startedAt,
      kafkaBrokers: options.kafkaBrokers,
      ...(readsByTarget ? { readsByTarget } : {}),
    };
    await saveRun(options.outDir, saved);
    outcome = { ...saved, result };
  } catch (e) {
    // The run's own error goes out; a failure to stop is only logged beside it.
    await stop();
    throw e;
  }
  const errors = await stop();
  if (errors.length > 0) throw errors[0];
  return outcome;
}
