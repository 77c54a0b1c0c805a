import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TEST_ADMIN_TOKEN } from '@tm/testing';
import { check, type CheckResult } from './check';
import { ALL_FAULTS, type FaultName, type FaultWindow, type FinalState, type Op } from './history';
import { SystemUnderTest } from './system';
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
  clients: number;
  seed: number;
  /** Where history.jsonl and report.txt go. */
  outDir: string;
  log: (line: string) => void;
}

export interface RunOutcome {
  result: CheckResult;
  history: Op[];
  faults: FaultWindow[];
  final: FinalState;
  options: RunOptions;
  startedAt: number;
  /** Why the system did not drain, when it did not. */
  stuck?: string;
}

export const SHORT_RUN: Omit<RunOptions, 'outDir' | 'log' | 'seed'> = {
  durationMs: 55_000,
  holdMs: [3_000, 3_000],
  quietMs: 3_500,
  faults: ALL_FAULTS,
  ttlSeconds: 3,
  clients: 8,
};

export const LONG_RUN: Omit<RunOptions, 'outDir' | 'log' | 'seed'> = {
  ...SHORT_RUN,
  durationMs: 10 * 60_000,
  holdMs: [1_000, 8_000],
  quietMs: 5_000,
};

/** Route keys the clients share: few, so that operations collide. */
const KEYS = ['acme/checkout/prod', 'acme/checkout/staging', 'acme/search/prod', 'acme/search/eu-canary', 'globex/billing/prod', 'globex/billing/dev'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the system, runs the clients while injecting faults, drains, checks. */
export async function runConsistencyCheck(options: RunOptions): Promise<RunOutcome> {
  await mkdir(options.outDir, { recursive: true });
  const system = await SystemUnderTest.start({ ttlSeconds: options.ttlSeconds, resolvers: 2, relays: 2, log: options.log });
  try {
    const target: WorkloadTarget = { commandApi: system.commandApi, resolvers: () => system.resolverUrls, token: TEST_ADMIN_TOKEN, keys: KEYS };
    const workload = new Workload(target, { clients: options.clients, writeShare: 0.35, thinkMs: 10, timeoutMs: 10_000, seed: options.seed });
    const rand = random(options.seed);
    const startedAt = now();
    options.log(`${options.clients} clients on ${KEYS.length} routes for ${Math.round(options.durationMs / 1000)} s; faults: ${options.faults.join(', ')}`);
    workload.start();
    const faults: FaultWindow[] = [];
    await sleep(options.quietMs);
    for (let round = 0; round === 0 || now() - startedAt < options.durationMs - options.quietMs; round++) {
      const order = [...options.faults].sort(() => rand() - 0.5);
      for (const fault of order) {
        if (round > 0 && now() - startedAt >= options.durationMs - options.quietMs) break;
        const start = now();
        const resolver = await system.inject(fault, (n) => Math.floor(rand() * n));
        await sleep(options.holdMs[0] + rand() * (options.holdMs[1] - options.holdMs[0]));
        await system.heal(fault);
        const window: FaultWindow = { fault, start, healed: now() };
        if (fault === 'resolver-kill' && resolver !== undefined) window.resolver = resolver;
        faults.push(window);
        options.log(`  ${fault.padEnd(13)} at ${((start - startedAt) / 1000).toFixed(1)} s, healed after ${((window.healed - start) / 1000).toFixed(1)} s`);
        await sleep(options.quietMs);
      }
    }
    const rest = options.durationMs - (now() - startedAt);
    if (rest > 0) await sleep(rest);
    await workload.stop();
    options.log(`${workload.history.length} operations; draining`);
    const drained = await system.drain(120_000);
    const [outbox, routes, cache, topic] = await Promise.all([system.outbox(), system.routes(), system.cache(), system.topicEvents()]);
    const finalReads = (await Promise.all(system.resolverUrls.map((url, i) => readAll(target, i, url)))).flat();
    const final: FinalState = { outbox, routes, cache, topic, finalReads, drainMs: drained.ms };
    const result = check(workload.history, faults, final, { ttlMs: options.ttlSeconds * 1000, recoveryMs: 2_000 });
    if (drained.stuck) result.violations.push({ guarantee: 'G7', message: `the system did not drain within 120 s: ${drained.stuck}`, ops: [] });
    await writeHistory(join(options.outDir, 'history.jsonl'), workload.history, faults);
    return { result, history: workload.history, faults, final, options, startedAt, ...(drained.stuck ? { stuck: drained.stuck } : {}) };
  } finally {
    await system.stop();
  }
}

/** The history as JSON lines: the faults first, then every operation in the order they started. */
async function writeHistory(path: string, history: Op[], faults: FaultWindow[]): Promise<void> {
  const out = createWriteStream(path);
  for (const f of faults) out.write(`${JSON.stringify({ type: 'fault', ...f })}\n`);
  for (const op of [...history].sort((a, b) => a.start - b.start)) out.write(`${JSON.stringify(op)}\n`);
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}
