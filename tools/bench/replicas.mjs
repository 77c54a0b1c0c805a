// The read tier on PostgreSQL streaming replicas (DATABASE_READ_URL): the primary's load with 10
// resolver replicas and 10,000 watch streams, without and with a replica. Runs on a primary and a
// replica of its own (libs/testing's postgres-servers.js: initdb, pg_basebackup -R, free ports, a
// temporary folder removed at the end), a command API and the resolvers as processes (the built apps,
// dist/apps), the shared Redis under a key prefix of its own. No Kafka: the cache is filled by the
// resolvers' misses and expires by its TTL, which is what sends reads to the database.
//
// For each mode: the resolvers start; the streams open (every one a snapshot); then for --seconds
// writes at --write-rate, strong reads and X-Min-Revision reads at --read-rate each, spread over the
// resolvers. The primary's load is its transactions per second from pg_stat_database (xact_commit +
// xact_rollback: every autocommit statement is one), over the opening of the streams and over the
// steady window, beside the writes' own share and the resolvers' reads by target (their metrics).
//
// `node tools/bench/replicas.mjs [--resolvers 10 --streams 10000 --seconds 20 ...]` alone (after
// `npx nx run-many -t build -p command-api resolver migrations`), or `npm run bench -- --only replicas`.
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgresServers from '../../libs/testing/src/lib/postgres-servers.js';
import { steadyRate } from './lib.mjs';
import { freePort, httpOk, sleep, spawnLogged, waitFor } from './processes.mjs';

const { makeFolder, removeFolder, initdb, basebackup, startServer, stopServer, withClient } = postgresServers;
const repo = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const DATABASE = 'traffic_manager';
/** What a phase under way must undo when the script alone is interrupted (SIGINT, SIGTERM). */
const cleanups = new Set();

/**
 * @typedef {{ resolvers: number, streams: number, tenants: number, routesPerTenant: number, seconds: number, writeRate: number, readRate: number }} ReplicaSettings
 * @typedef {{ transactions: number, seconds: number, perSecond: number }} Window
 * @typedef {{ mode: string, opening: Window, steady: Window, writesPerSecond: number, readsByTarget: Record<string, number>, failedRequests: number }} ModeResult
 */

/** @param {string} url */
async function primaryTransactions(url) {
  return withClient(url, async (c) => Number((await c.query('SELECT sum(xact_commit + xact_rollback) AS n FROM pg_stat_database')).rows[0]?.n ?? 0));
}

/**
 * Transactions on the primary while `work` runs (stats are flushed by each backend within about a
 * second of its transactions: the window is read a second and a half after the work too).
 * @param {string} url
 * @param {() => Promise<unknown>} work
 * @returns {Promise<Window>}
 */
async function measure(url, work) {
  await sleep(1_500);
  const before = await primaryTransactions(url);
  const began = performance.now();
  await work();
  const seconds = (performance.now() - began) / 1000;
  await sleep(1_500);
  const transactions = (await primaryTransactions(url)) - before;
  return { transactions, seconds, perSecond: transactions / seconds };
}

/**
 * Opens `count` watch streams on `resolver` spread over `tenants`, `concurrency` snapshots at a time
 * (a 503 while the pool is saturated is retried after its Retry-After), each done once its snapshot's
 * bookmark came. The streams stay open (their heartbeats are read and dropped) until `close()`.
 * @param {string} resolver
 * @param {string} token
 * @param {string[]} tenants
 * @param {number} count
 * @param {number} concurrency
 */
async function openStreams(resolver, token, tenants, count, concurrency) {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  /** @type {import('node:http').IncomingMessage[]} */
  const open = [];
  /** @param {string} tenant @returns {Promise<void>} */
  const one = (tenant) =>
    new Promise((resolve, reject) => {
      const req = request(`${resolver}/v1/watch/${tenant}`, { agent, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode === 503) {
          res.resume();
          const wait = Number(res.headers['retry-after'] ?? 1) * 1000;
          setTimeout(() => one(tenant).then(resolve, reject), wait);
          return;
        }
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`watch ${tenant} on ${resolver}: ${res.statusCode}`));
          return;
        }
        open.push(res);
        res.setEncoding('utf8');
        let seen = '';
        const onData = (/** @type {string} */ chunk) => {
          const text = seen + chunk;
          seen = text.slice(-32);
          if (text.includes('event: bookmark')) {
            res.off('data', onData);
            res.resume();
            resolve();
          }
        };
        res.on('data', onData);
        res.on('error', () => undefined);
      });
      req.on('error', reject);
      req.end();
    });
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await one(/** @type {string} */ (tenants[next++ % tenants.length]));
    }),
  );
  return { close: () => open.forEach((res) => res.destroy()) };
}

/**
 * @param {ReplicaSettings} settings
 * @param {{ rawDir: string, say: (line: string) => void, shouldStop?: () => boolean }} options
 */
export async function replicasPhase(settings, { rawDir, say, shouldStop = () => false }) {
  const dir = makeFolder();
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const primaryUrl = `postgres://postgres@127.0.0.1:${primaryPort}/${DATABASE}`;
  const replicaUrl = `postgres://postgres@127.0.0.1:${replicaPort}/${DATABASE}`;
  /** @type {ReturnType<typeof spawnLogged>[]} */
  const apps = [];
  const token = `tm_bench_${randomBytes(24).toString('base64url')}`;
  const auth = { authorization: `Bearer ${token}` };
  const base = {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    DATABASE_URL: primaryUrl,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    CACHE_KEY_PREFIX: `tm:bench-replicas-${Date.now().toString(36)}:`,
    TM_ADMIN_TOKEN: token,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_KEY: '1000000',
    // Few connections per resolver: ten of them share the primary's max_connections.
    DATABASE_POOL_SIZE: '5',
    DATABASE_READ_POOL_SIZE: '5',
  };
  /**
   * @param {'command-api' | 'resolver'} app
   * @param {string} portVar
   * @param {Record<string, string>} env
   */
  const start = async (app, portVar, env) => {
    const port = await freePort();
    const proc = spawnLogged(`${app} on ${port}`, process.execPath, [join(repo, 'dist', 'apps', app, 'main.js')], {
      cwd: repo,
      env: { ...base, ...env, [portVar]: String(port) },
      logFile: join(rawDir, `replicas-${app}-${port}.log`),
    });
    apps.push(proc);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`${app} on ${port} to be ready`, () => httpOk(`${url}/health/ready`), { timeoutMs: 120_000, intervalMs: 250, proc, shouldStop });
    return { proc, url };
  };
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await Promise.all(apps.map((p) => p.stop(10_000)));
    stopServer(join(dir, 'replica'), 'immediate');
    stopServer(join(dir, 'primary'), 'immediate');
    removeFolder(dir);
  };
  cleanups.add(cleanup);
  try {
    say('replicas: starting a PostgreSQL primary and a streaming replica of its own');
    initdb(join(dir, 'primary'));
    await startServer(join(dir, 'primary'), primaryPort, dir);
    await withClient(`postgres://postgres@127.0.0.1:${primaryPort}/postgres`, (c) => c.query(`CREATE DATABASE ${DATABASE}`));
    const migrate = spawnLogged('migrations', process.execPath, [join(repo, 'dist', 'migrations', 'main.js')], {
      cwd: repo,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: primaryUrl },
      logFile: join(rawDir, 'replicas-migrations.log'),
    });
    const migrated = await migrate.exited;
    if (migrated.code !== 0) throw new Error(`replicas: the migrations failed; see ${migrate.logFile}`);
    basebackup(primaryPort, join(dir, 'replica'));
    await startServer(join(dir, 'replica'), replicaPort, dir);

    const api = await start('command-api', 'COMMAND_API_PORT', {});
    const tenants = Array.from({ length: settings.tenants }, (_, i) => `replicas-t${i}`);
    const routes = tenants.flatMap((t) => Array.from({ length: settings.routesPerTenant }, (_, i) => `${t}/svc/env-${i}`));
    say(`replicas: writing ${routes.length} routes over ${tenants.length} tenants`);
    let written = 0;
    /** @param {string} route */
    const put = async (route) => {
      const res = await fetch(`${api.url}/v1/routes/${route}`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ url: `https://w${written++}.replicas.internal/` }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    for (let i = 0; i < routes.length; i += 20) await Promise.all(routes.slice(i, i + 20).map(put));

    /** @type {ModeResult[]} */
    const modes = [];
    for (const [mode, env] of /** @type {[string, Record<string, string>][]} */ ([
      ['primary only', {}],
      ['with a replica', { DATABASE_READ_URL: replicaUrl }],
    ])) {
      if (shouldStop()) break;
      say(`replicas: ${mode}: starting ${settings.resolvers} resolvers`);
      const resolvers = await Promise.all(Array.from({ length: settings.resolvers }, () => start('resolver', 'RESOLVER_PORT', { ...env, CACHE_TTL_SECONDS: '5' })));
      const perResolver = Math.ceil(settings.streams / settings.resolvers);
      /** @type {{ close(): void }[]} */
      const clients = [];
      say(`replicas: ${mode}: opening ${perResolver * resolvers.length} watch streams (${perResolver} per resolver)`);
      const opening = await measure(primaryUrl, async () => {
        clients.push(...(await Promise.all(resolvers.map((r) => openStreams(r.url, token, tenants, perResolver, 20)))));
      });
      say(`replicas: ${mode}: ${settings.seconds} s of ${settings.writeRate} writes/s, ${settings.readRate} strong and ${settings.readRate} X-Min-Revision reads/s`);
      let failed = 0;
      let lastRevision = 0;
      let writes = 0;
      const until = () => performance.now() < endAt;
      let endAt = 0;
      const steady = await measure(primaryUrl, async () => {
        endAt = performance.now() + settings.seconds * 1000;
        /** @type {Promise<unknown>[]} */
        const inFlight = [];
        /** @param {Promise<unknown>} p */
        const track = (p) => inFlight.push(p.catch(() => failed++));
        const writer = steadyRate(settings.writeRate, until, (i) =>
          track(
            (async () => {
              const route = /** @type {string} */ (routes[i % routes.length]);
              const res = await fetch(`${api.url}/v1/routes/${route}`, {
                method: 'PUT',
                headers: { ...auth, 'content-type': 'application/json' },
                body: JSON.stringify({ url: `https://w${written++}.replicas.internal/` }),
              });
              await res.arrayBuffer();
              if (res.status >= 300) failed++;
              else writes++;
              lastRevision = Math.max(lastRevision, Number(res.headers.get('x-route-revision') ?? 0));
            })(),
          ),
        );
        /** @param {number} i @param {Record<string, string>} headers @param {string} query */
        const read = (i, headers, query) =>
          track(
            (async () => {
              const r = /** @type {{ url: string }} */ (resolvers[i % resolvers.length]);
              const res = await fetch(`${r.url}/v1/resolve/${routes[(i * 7) % routes.length]}${query}`, { headers: { ...auth, ...headers } });
              await res.arrayBuffer();
              if (res.status >= 500) failed++;
            })(),
          );
        const strong = steadyRate(settings.readRate, until, (i) => read(i, {}, '?consistency=strong'));
        const session = steadyRate(settings.readRate, until, (i) => read(i, { 'x-min-revision': String(lastRevision) }, ''));
        await Promise.all([writer, strong, session]);
        await Promise.all(inFlight);
      });
      /** @type {Record<string, number>} */
      const readsByTarget = {};
      for (const r of resolvers) {
        const text = await fetch(`${r.url}/metrics`).then((res) => res.text());
        for (const m of text.matchAll(/^tm_resolver_database_reads_by_target_total\{read="(\w+)",target="(\w+)"[^}]*\} (\d+)/gm)) {
          const key = `${m[1]}:${m[2]}`;
          readsByTarget[key] = (readsByTarget[key] ?? 0) + Number(m[3]);
        }
      }
      modes.push({ mode, opening, steady, writesPerSecond: writes / steady.seconds, readsByTarget, failedRequests: failed });
      say(
        `replicas: ${mode}: primary ${Math.round(opening.perSecond)} transactions/s while the streams opened (${opening.seconds.toFixed(1)} s), ${Math.round(steady.perSecond)}/s steady (${Math.round(writes / steady.seconds)} writes/s among them); reads ${JSON.stringify(readsByTarget)}`,
      );
      for (const c of clients) c.close();
      await Promise.all(resolvers.map((r) => r.proc.stop(10_000)));
      apps.splice(apps.indexOf(resolvers[0]?.proc ?? api.proc), resolvers.length);
    }
    return { settings, modes, note: "the primary's transactions per second (pg_stat_database xact_commit + xact_rollback; an autocommit statement is one), the writes' own among them" };
  } finally {
    await cleanup();
    cleanups.delete(cleanup);
  }
}

/** @param {{ modes: ModeResult[] }} result */
export function renderReplicas(result) {
  const lines = [
    '| mode | primary tx/s while the streams open | primary tx/s steady | writes/s | reads by target (miss, strong, snapshot, history) |',
    '| --- | ---: | ---: | ---: | --- |',
  ];
  for (const m of result.modes) {
    const reads = Object.entries(m.readsByTarget)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    lines.push(`| ${m.mode} | ${Math.round(m.opening.perSecond)} (${m.opening.seconds.toFixed(1)} s) | ${Math.round(m.steady.perSecond)} | ${Math.round(m.writesPerSecond)} | ${reads} |`);
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      resolvers: { type: 'string', default: '10' },
      streams: { type: 'string', default: '10000' },
      tenants: { type: 'string', default: '100' },
      'routes-per-tenant': { type: 'string', default: '10' },
      seconds: { type: 'string', default: '20' },
      'write-rate': { type: 'string', default: '20' },
      'read-rate': { type: 'string', default: '100' },
      out: { type: 'string', default: join(repo, 'tools', 'bench', 'results', 'raw', `replicas-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`) },
    },
  });
  mkdirSync(values.out, { recursive: true });
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
    process.once(signal, () => {
      process.stderr.write(`replicas: ${signal}: stopping what it started\n`);
      void Promise.all([...cleanups].map((c) => c())).finally(() => process.exit(130));
    });
  }
  const result = await replicasPhase(
    {
      resolvers: Number(values.resolvers),
      streams: Number(values.streams),
      tenants: Number(values.tenants),
      routesPerTenant: Number(values['routes-per-tenant']),
      seconds: Number(values.seconds),
      writeRate: Number(values['write-rate']),
      readRate: Number(values['read-rate']),
    },
    { rawDir: values.out, say: (l) => process.stdout.write(`[bench] ${l}\n`) },
  );
  writeFileSync(join(values.out, 'replicas.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${renderReplicas(result)}\n`);
  process.exit(0);
}
