// The change-sets phase: change sets of 1, 10, 100 and 1,000 routes against the stack's command API
// (POST /v1/changes), and other tenants' single PUTs while ten 1,000-route sets run. Reported,
// never asserted.
import { createRequire } from 'node:module';
import { call, putRoute } from './phases.mjs';

const require = createRequire(import.meta.url);
const { summarizeLatencies } = require('./report.cjs');

/** Clients submitting sets at once, each in a tenant of its own (a tenant's writes queue on its row). */
const CLIENTS = 4;

/** Single-route writers in other tenants, and the concurrent 1,000-route sets beside them. */
const WRITERS = 8;
const BIG_SETS = 10;

/**
 * One change set: every route of `routes` set to a new URL. Uses fetch (a 1,000-route set under load
 * can outlast call's deadline).
 * @param {string} api
 * @param {string} token
 * @param {string[]} routes
 * @param {string} tag
 * @returns {Promise<number>} the set's revision
 */
async function applySet(api, token, routes, tag) {
  const res = await fetch(`${api}/v1/changes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ changes: routes.map((route, i) => ({ op: 'put', route, body: { url: `https://${tag}-${i}.bench.internal/` } })), description: 'bench' }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`POST /v1/changes (${routes.length} routes): ${res.status} ${text.slice(0, 300)}`);
  return /** @type {{ revision: number }} */ (JSON.parse(text)).revision;
}

/**
 * @param {string} tenant
 * @param {number} size
 */
const routesOf = (tenant, size) => Array.from({ length: size }, (_, i) => `${tenant}/svc-${i % 100}/env-${Math.floor(i / 100)}`);

/**
 * Closed loops of `clients` submitting sets of `size` for `seconds` (each loop's tenant created by
 * its first set, not counted): sets and routes per second, and each set's time to its answer.
 * @param {{ api: string, token: string, tenant: string, size: number, seconds: number, clients?: number }} options
 */
async function throughput({ api, token, tenant, size, seconds, clients = CLIENTS }) {
  const tenants = Array.from({ length: clients }, (_, c) => `${tenant}-s${size}-c${c}`);
  for (const t of tenants) await applySet(api, token, routesOf(t, size), 'seed');
  /** @type {number[]} */
  const times = [];
  let failures = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    tenants.map(async (t, c) => {
      for (let i = 0; performance.now() < end; i++) {
        const start = performance.now();
        try {
          await applySet(api, token, routesOf(t, size), `c${c}-${i}`);
          times.push(performance.now() - start);
        } catch {
          failures += 1;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const { latencyMs } = summarizeLatencies(times);
  return { size, clients, sets: times.length, setsPerSecond: round(times.length / elapsed), routesPerSecond: round((times.length * size) / elapsed), commitMs: latencyMs, failures, tenants };
}

/** @param {number} x */
const round = (x) => Math.round(x * 10) / 10;

/**
 * Other tenants' PUTs (WRITERS closed loops, each over its own 20 routes) for `seconds` alone, then
 * for `seconds` while BIG_SETS clients submit 1,000-route sets: each PUT's time to its answer.
 * @param {{ api: string, token: string, tenant: string, seconds: number }} options
 */
async function putsBesideBigSets({ api, token, tenant, seconds }) {
  const writerRoute = (/** @type {number} */ w, /** @type {number} */ i) => `${tenant}-p${w}/web/env-${i % 20}`;
  for (let w = 0; w < WRITERS; w++) for (let i = 0; i < 20; i++) await putRoute(api, token, writerRoute(w, i), `https://seed.bench.internal/${i}`);
  const bigTenants = Array.from({ length: BIG_SETS }, (_, b) => `${tenant}-big${b}`);
  for (const t of bigTenants) await applySet(api, token, routesOf(t, 1000), 'seed');

  /** @param {boolean} withSets */
  const measure = async (withSets) => {
    /** @type {number[]} */
    const puts = [];
    /** @type {number[]} */
    const sets = [];
    const end = performance.now() + seconds * 1000;
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const start = performance.now();
        await putRoute(api, token, writerRoute(w, i), `https://w${w}-${i}-${withSets}.bench.internal/`);
        puts.push(performance.now() - start);
      }
    });
    const big = withSets
      ? bigTenants.map(async (t, b) => {
          for (let i = 0; performance.now() < end; i++) {
            const start = performance.now();
            await applySet(api, token, routesOf(t, 1000), `b${b}-${i}`);
            sets.push(performance.now() - start);
          }
        })
      : [];
    await Promise.all([...writers, ...big]);
    return { puts: summarizeLatencies(puts).latencyMs, putCount: puts.length, sets: sets.length ? summarizeLatencies(sets).latencyMs : null, setCount: sets.length };
  };
  const alone = await measure(false);
  const beside = await measure(true);
  return { writers: WRITERS, bigSets: BIG_SETS, alone, beside, tenants: [...bigTenants, ...Array.from({ length: WRITERS }, (_, w) => `${tenant}-p${w}`)] };
}

/**
 * The phase: throughput in sets of 1, 10, 100 and 1,000 routes, then PUTs beside ten 1,000-route
 * sets. Deletes its tenants afterwards (each deletion is one change set too).
 * @param {{ api: string, token: string, tenant: string, seconds: number, say: (line: string) => void }} options
 */
export async function changeSetPhase({ api, token, tenant, seconds, say }) {
  const sizes = [];
  for (const size of [1, 10, 100, 1000]) {
    const r = await throughput({ api, token, tenant, size, seconds });
    say(`  sets of ${size}: ${r.setsPerSecond} sets/s, ${r.routesPerSecond} routes/s; commit p50 ${r.commitMs.p50} ms, p99 ${r.commitMs.p99} ms (${r.clients} clients, ${r.failures} failed)`);
    sizes.push(r);
  }
  const beside = await putsBesideBigSets({ api, token, tenant, seconds });
  say(
    `  other tenants' PUTs: p50 ${beside.alone.puts.p50} ms, p99 ${beside.alone.puts.p99} ms alone; p50 ${beside.beside.puts.p50} ms, p99 ${beside.beside.puts.p99} ms beside ${BIG_SETS} 1,000-route sets (${beside.beside.setCount} sets, p50 ${beside.beside.sets?.p50} ms)`,
  );
  for (const t of [...sizes.flatMap((s) => s.tenants), ...beside.tenants]) {
    await call(`${api}/v1/tenants/${t}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  }
  return { sizes: sizes.map(({ tenants: _, ...s }) => s), besideBigSets: { writers: beside.writers, bigSets: beside.bigSets, alone: beside.alone, beside: beside.beside } };
}

/**
 * The time from a write's answer to its revision in sync (GET /v1/revisions/{R} says so: on Kafka,
 * applied by the worker, held by every live resolver replica's feed): `writes` PUTs one after
 * another, each followed by status reads every `pollMs` until in sync (or 10 s).
 * @param {{ api: string, token: string, tenant: string, writes: number, pollMs?: number, say: (line: string) => void }} options
 */
export async function inSyncPhase({ api, token, tenant, writes, pollMs = 2, say }) {
  /** @type {number[]} */
  const times = [];
  let missed = 0;
  const auth = { authorization: `Bearer ${token}` };
  for (let i = 0; i < writes; i++) {
    const revision = await putRoute(api, token, `${tenant}/sync/env-${i % 20}`, `https://s${i}.bench.internal/`);
    const answered = performance.now();
    const deadline = answered + 10_000;
    for (;;) {
      const res = await call(`${api}/v1/revisions/${revision}`, { headers: auth });
      if (res.status === 200 && /** @type {{ status: string }} */ (JSON.parse(res.body)).status === 'in-sync') {
        times.push(performance.now() - answered);
        break;
      }
      if (performance.now() > deadline) {
        missed += 1;
        break;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  await call(`${api}/v1/tenants/${tenant}`, { method: 'DELETE', headers: auth });
  const { latencyMs } = summarizeLatencies(times);
  say(`  write answered → in sync: p50 ${latencyMs.p50} ms, p99 ${latencyMs.p99} ms (${times.length} writes, ${missed} not in sync within 10 s; status read every ${pollMs} ms)`);
  return { writes, pollMs, inSyncMs: latencyMs, missed };
}
