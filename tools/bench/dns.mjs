// The dns phase of `npm run bench` (tools/bench/run.mjs): the resolver's DNS (docs/dns.md).
//   - Throughput and latency: Debian's dnsperf, in a process of its own, on the A records of many
//     routes of a tenant opened to DNS (every one answered once first, then a warm-up run not
//     counted), beside an Unbound of the bench's own (Debian's, one thread, started on a free port)
//     that serves the same names as static local-data with no recursion: measured the same way in
//     alternating rounds, queries per second and the latency percentiles of dnsperf's per-query
//     output (-v), with dnsperf's CPU (bash's `times` once it exits) and the server's;
//   - write → DNS answer: PUTs of a route to a new address one after another, each timed from its
//     answer until the resolver's DNS answers that address (a UDP poll with dns-packet);
//   - failover as dig sees it: a route of a primary and a backup on loopback servers of the bench's
//     own, probed by the stack's two probers; the primary stopped, timed until dig answers the backup.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pool } from './lib.mjs';
import { call, putRoute } from './phases.mjs';
import { EndpointServer, failoverPolicy, putPolicy, send, summarizeTrials } from './policies.mjs';
import { freeDnsPort, sleep, spawnLogged, waitFor } from './processes.mjs';
import { summarizeLatencies } from './report.cjs';
import { processCpuSeconds } from './wrk.mjs';
import { unboundConfig } from '../../libs/testing/src/lib/unbound-config.js';

const require = createRequire(import.meta.url);
const packet = /** @type {typeof import('dns-packet')} */ (require('dns-packet'));
const execFileAsync = promisify(execFile);

/** @typedef {import('./lib.mjs').Say} Say */
/** @typedef {import('./lib.mjs').Counters} Counters */
/** @typedef {import('./processes.mjs').Logged} Logged */
/** @typedef {{ name: string, address: string }} ARecord A name of the zone and the address it answers. */

/** Debian's dnsperf, unbound and dig (bind9-dnsutils) install them here (the bench installs them when missing). */
export const DNSPERF = '/usr/bin/dnsperf';
export const UNBOUND = '/usr/sbin/unbound';
export const DIG = '/usr/bin/dig';

/**
 * The DNS name of route `tenant/service/environment` in `zone` (`tm.internal.`).
 * @param {string} route
 * @param {string} zone
 */
export function routeName(route, zone) {
  const [tenant, service, environment] = route.split('/');
  return `${environment}.${service}.${tenant}.${zone.replace(/\.$/, '')}`;
}

/**
 * A DNS client over one UDP socket (dns-packet), for polls: each query waits for its own id's answer,
 * or gives undefined past its timeout.
 */
export class DnsClient {
  /** @param {number} port the server's, on 127.0.0.1 */
  constructor(port) {
    this.port = port;
    this.socket = createSocket('udp4');
    /** @type {Map<number, (reply: Buffer) => void>} */
    this.pending = new Map();
    this.socket.on('message', (reply) => {
      if (reply.length < 2) return;
      this.pending.get(reply.readUInt16BE(0))?.(reply);
    });
  }

  /**
   * @param {string} name
   * @param {import('dns-packet').RecordType} [type]
   * @param {number} [timeoutMs]
   * @returns {Promise<(import('dns-packet').DecodedPacket & { rcode?: string }) | undefined>}
   */
  query(name, type = 'A', timeoutMs = 1_000) {
    let id = Math.floor(Math.random() * 65_536);
    while (this.pending.has(id)) id = (id + 1) % 65_536;
    const message = packet.encode({ type: 'query', id, flags: 0, questions: [{ type, name, class: 'IN' }] });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        this.pending.delete(id);
        try {
          resolve(packet.decode(reply));
        } catch {
          resolve(undefined);
        }
      });
      this.socket.send(message, this.port, '127.0.0.1');
    });
  }

  /**
   * The first A record's address at `name`, or undefined (no answer, NXDOMAIN, no A).
   * @param {string} name
   */
  async address(name) {
    const reply = await this.query(name, 'A');
    for (const record of reply?.answers ?? []) if (record.type === 'A') return record.data;
    return undefined;
  }

  close() {
    this.socket.close();
  }
}

/**
 * dig's short answer for `name` A at the server on 127.0.0.1:`port` (its first line; '' when none).
 * @param {number} port
 * @param {string} name
 */
export async function digAddress(port, name) {
  const { stdout } = await execFileAsync(DIG, ['@127.0.0.1', '-p', String(port), '+short', '+time=1', '+tries=1', name, 'A'], { timeout: 10_000 });
  return stdout.trim().split('\n')[0] ?? '';
}

/**
 * Opens `tenant` to DNS: `PATCH /v1/tenants/{tenant}` `{"dns": true}` with the admin token.
 * @param {{ api: string, token: string, tenant: string }} options
 */
export async function openToDns({ api, token, tenant }) {
  const res = await call(`${api}/v1/tenants/${tenant}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ dns: true }),
  });
  if (res.status !== 200) throw new Error(`PATCH /v1/tenants/${tenant} {"dns": true}: ${res.status} ${res.body}`);
}

/**
 * An Unbound of the bench's own on a free port of 127.0.0.1: one thread (the resolver answers DNS on
 * one event loop), `records` as static local-data of `zone` (TTL `ttl`), every other name refused (no
 * recursion, nothing leaves the machine). Its configuration and nothing else in a temporary folder,
 * removed by `stop()`.
 * @param {{ zone: string, records: ARecord[], ttl: number, logFile: string, shouldStop: () => boolean }} options
 */
export async function startUnbound({ zone, records, ttl, logFile, shouldStop }) {
  const dir = mkdtempSync(join(tmpdir(), 'tm-bench-unbound-'));
  const port = await freeDnsPort();
  const config = join(dir, 'unbound.conf');
  writeFileSync(config, unboundConfig({ dir, port, zone, records, ttl }));
  const proc = spawnLogged('unbound', UNBOUND, ['-d', '-c', config], { logFile });
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const client = new DnsClient(port);
  try {
    const [first] = records;
    await waitFor('unbound to answer', async () => first !== undefined && (await client.address(first.name)) === first.address, { proc, shouldStop, timeoutMs: 30_000, intervalMs: 200 });
  } catch (e) {
    await stop();
    throw e;
  } finally {
    client.close();
  }
  return { proc, port, stop };
}

/**
 * `user system` seconds from a line of bash's `times` (`0m1.250s 0m0.310s`).
 * @param {string} line
 */
function timesSeconds(line) {
  const m = /^(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s$/.exec(line.trim());
  return m ? 60 * Number(m[1]) + Number(m[2]) + 60 * Number(m[3]) + Number(m[4]) : NaN;
}

/**
 * What a dnsperf run printed, read: its statistics, each query's latency (-v lines
 * `> NOERROR name A 0.000123`), and, from bash's `times` after it, the CPU it used.
 * @param {string} text
 */
export function readDnsperf(text) {
  const number = (/** @type {RegExp} */ re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : NaN;
  };
  /** @type {number[]} */
  const latenciesMs = [];
  for (const m of text.matchAll(/^> \S+ \S+ \S+ ([0-9.]+)$/gm)) latenciesMs.push(Number(m[1]) * 1000);
  /** @type {Record<string, number>} */
  const rcodes = {};
  const codes = /Response codes:\s+(.*)$/m.exec(text)?.[1] ?? '';
  for (const m of codes.matchAll(/([A-Z]+) (\d+)/g)) rcodes[m[1]] = Number(m[2]);
  const times = text.trim().split('\n').filter((l) => /^\d+m[\d.]+s\s+\d+m[\d.]+s$/.test(l.trim()));
  return {
    sent: number(/Queries sent:\s+(\d+)/),
    completed: number(/Queries completed:\s+(\d+)/),
    lost: number(/Queries lost:\s+(\d+)/),
    runSeconds: number(/Run time \(s\):\s+([0-9.]+)/),
    queriesPerSecond: number(/Queries per second:\s+([0-9.]+)/),
    averageMs: number(/Average Latency \(s\):\s+([0-9.]+)/) * 1000,
    stddevMs: number(/Latency StdDev \(s\):\s+([0-9.]+)/) * 1000,
    rcodes,
    latenciesMs,
    // bash's `times`: its own line, then its children's (dnsperf's).
    cpuSeconds: times.length >= 2 ? timesSeconds(/** @type {string} */ (times[times.length - 1])) : NaN,
  };
}

/**
 * One dnsperf run against 127.0.0.1:`port` (closed loop: `outstanding` queries in flight over
 * `clients` sockets and `threads` threads, `seconds` long), its output in `outFile`.
 * @param {{ port: number, queryFile: string, seconds: number, clients: number, threads: number, outstanding: number, verbose: boolean, outFile: string, started: Logged[] }} options
 */
export async function runDnsperf({ port, queryFile, seconds, clients, threads, outstanding, verbose, outFile, started }) {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-l', String(seconds), '-c', String(clients), '-T', String(threads), '-q', String(outstanding), '-t', '2', ...(verbose ? ['-v'] : [])];
  writeFileSync(outFile, '');
  // bash runs it and then prints `times`: the CPU its child used, read once dnsperf has exited.
  const proc = spawnLogged('dnsperf', 'bash', ['-c', `"${DNSPERF}" "$@"; code=$?; times; exit $code`, 'dnsperf', ...args], { logFile: outFile });
  started.push(proc);
  const { code } = await proc.exited;
  const text = readFileSync(outFile, 'utf8');
  if (code !== 0) throw new Error(`dnsperf exited ${code}: ${text.trim().split('\n').slice(-3).join(' / ')}`);
  return readDnsperf(text);
}

/** @param {number} x */
const round3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);

/**
 * The dns phase (see the top of this file).
 * @param {{
 *   api: string, resolverUrl: string, token: string, tenant: string, dnsPort: number, zone: string, ttlSeconds: number,
 *   routes: number, seconds: number, warmupSeconds: number, rounds: number, outstanding: number, clients: number, threads: number,
 *   writes: number, failoverTrials: number, intervalSeconds: number, threshold: number,
 *   resolverCpu: () => Promise<number>, resolverAnswers: () => Promise<Counters>, quiet: (phase: string) => Promise<void>,
 *   rawDir: string, started: Logged[], shouldStop: () => boolean, say: Say,
 * }} o
 */
export async function dnsPhase(o) {
  const { api, token, tenant, zone, dnsPort, say, shouldStop } = o;
  // Routes of IP literals (A answers), in 127.1.0.0/16: answers only, nothing connects to them.
  const routes = Array.from({ length: o.routes }, (_, i) => `${tenant}/svc-${i % 10}/env-${Math.floor(i / 10)}`);
  /** @type {ARecord[]} */
  const records = routes.map((route, i) => ({ name: routeName(route, zone), address: `127.1.${(i >> 8) & 255}.${i & 255}` }));
  say(`dns: writing ${routes.length} routes of IP literals (tenant ${tenant}) and opening the tenant to DNS (PATCH /v1/tenants/${tenant})`);
  await pool(routes.length, 10, (i) => putRoute(api, token, /** @type {string} */ (routes[i]), `http://${records[i]?.address}:8080/`));
  await openToDns({ api, token, tenant });
  const client = new DnsClient(dnsPort);
  try {
    // Every route answered once (the tenant's opening reaches the resolver within AUTH_CACHE_TTL_MS).
    await waitFor(
      'every route to be answered over DNS',
      async () => {
        let ok = 0;
        await pool(records.length, 20, async (i) => {
          const r = /** @type {ARecord} */ (records[i]);
          if ((await client.address(r.name)) === r.address) ok++;
        });
        return ok === records.length;
      },
      { timeoutMs: 60_000, intervalMs: 500, shouldStop },
    );
  } finally {
    client.close();
  }

  const unbound = await startUnbound({ zone, records, ttl: o.ttlSeconds, logFile: join(o.rawDir, 'unbound.log'), shouldStop });
  o.started.push(unbound.proc);
  try {
    const queryFile = join(o.rawDir, 'dnsperf-queries.txt');
    writeFileSync(queryFile, records.map((r) => `${r.name} A\n`).join(''));
    const servers = /** @type {const} */ ({
      resolver: { port: dnsPort, cpu: o.resolverCpu },
      unbound: { port: unbound.port, cpu: async () => processCpuSeconds(unbound.proc.child.pid) },
    });
    const settings = { clients: o.clients, threads: o.threads, outstanding: o.outstanding, queryFile };
    say(
      `dns: dnsperf (${o.threads} thread, ${o.clients} clients, ${o.outstanding} queries in flight, closed loop) on ${routes.length} names, ` +
        `the resolver (127.0.0.1:${dnsPort}) and Unbound (127.0.0.1:${unbound.port}, pid ${unbound.proc.child.pid}, one thread, the same names as local-data) in alternating rounds of ${o.seconds} s after ${o.warmupSeconds} s of warm-up`,
    );
    /** @type {Record<'resolver' | 'unbound', Array<ReturnType<typeof readDnsperf> & { serverCpuSeconds: number, latencyMs: ReturnType<typeof summarizeLatencies>['latencyMs'] }>>} */
    const rounds = { resolver: [], unbound: [] };
    /** @type {Counters} */
    let cacheBefore = {};
    /** @type {Counters} */
    const cache = {};
    for (let round = 0; round < o.rounds; round++) {
      for (const server of /** @type {const} */ (['resolver', 'unbound'])) {
        if (shouldStop()) break;
        const { port, cpu } = servers[server];
        if (o.warmupSeconds > 0) await runDnsperf({ ...settings, port, seconds: o.warmupSeconds, verbose: false, outFile: join(o.rawDir, `dnsperf-${server}-warmup-${round + 1}.txt`), started: o.started });
        await o.quiet(`dns (${server}, round ${round + 1})`);
        if (server === 'resolver') cacheBefore = await o.resolverAnswers();
        const cpuBefore = await cpu();
        const r = await runDnsperf({ ...settings, port, seconds: o.seconds, verbose: true, outFile: join(o.rawDir, `dnsperf-${server}-${round + 1}.txt`), started: o.started });
        const serverCpuSeconds = (await cpu()) - cpuBefore;
        if (server === 'resolver') for (const [k, v] of Object.entries(await o.resolverAnswers())) cache[k] = (cache[k] ?? 0) + v - (cacheBefore[k] ?? 0);
        const { latencyMs } = summarizeLatencies(r.latenciesMs);
        rounds[server].push({ ...r, serverCpuSeconds, latencyMs });
        say(
          `  ${server}, round ${round + 1}: ${Math.round(r.queriesPerSecond).toLocaleString('en-US')} queries/s, p50 ${latencyMs.p50} ms, p99 ${latencyMs.p99} ms; ${r.lost} lost; ` +
            `dnsperf ${round3(r.cpuSeconds / r.runSeconds)} of a core, ${server} ${round3(serverCpuSeconds / r.runSeconds)}`,
        );
      }
    }
    const summary = (/** @type {typeof rounds.resolver} */ list) => {
      const all = summarizeLatencies(list.flatMap((r) => r.latenciesMs));
      const seconds = list.reduce((a, r) => a + r.runSeconds, 0);
      /** @type {Record<string, number>} */
      const rcodes = {};
      for (const r of list) for (const [k, v] of Object.entries(r.rcodes)) rcodes[k] = (rcodes[k] ?? 0) + v;
      return {
        queriesPerSecond: Math.round(list.reduce((a, r) => a + r.completed, 0) / seconds),
        rounds: list.map((r) => Math.round(r.queriesPerSecond)),
        latencyMs: all.latencyMs,
        distribution: all.distribution,
        samples: all.samples,
        roundsP99Ms: list.map((r) => r.latencyMs.p99),
        /** dnsperf's CPU in each round, as a share of a core: the busiest round is what says whether it was the limit. */
        roundsGeneratorShare: list.map((r) => round3(r.cpuSeconds / r.runSeconds)),
        averageMs: round3(list.reduce((a, r) => a + r.averageMs * r.completed, 0) / Math.max(1, list.reduce((a, r) => a + r.completed, 0))),
        sent: list.reduce((a, r) => a + r.sent, 0),
        completed: list.reduce((a, r) => a + r.completed, 0),
        lost: list.reduce((a, r) => a + r.lost, 0),
        rcodes,
        generatorCpu: { seconds: round3(list.reduce((a, r) => a + r.cpuSeconds, 0)), shareOfCore: round3(list.reduce((a, r) => a + r.cpuSeconds, 0) / seconds) },
        serverCpu: { seconds: round3(list.reduce((a, r) => a + r.serverCpuSeconds, 0)), shareOfCore: round3(list.reduce((a, r) => a + r.serverCpuSeconds, 0) / seconds) },
      };
    };
    const resolver = { ...summary(rounds.resolver), cache };
    const peer = summary(rounds.unbound);
    await unbound.stop();
    const ratio = {
      queriesPerSecond: round3(resolver.queriesPerSecond / peer.queriesPerSecond),
      p99: resolver.latencyMs.p99 !== null && peer.latencyMs.p99 ? round3(resolver.latencyMs.p99 / peer.latencyMs.p99) : null,
    };
    say(`  resolver / Unbound: ${ratio.queriesPerSecond} of its queries per second, ${ratio.p99}× its p99`);

    const writeToAnswer = await writesToAnswers({ ...o, pollMs: 1 });
    const failover = await dnsFailover(o);
    return {
      zone,
      routes: routes.length,
      ttlSeconds: o.ttlSeconds,
      dnsperf: { threads: o.threads, clients: o.clients, outstanding: o.outstanding, seconds: o.seconds, warmupSeconds: o.warmupSeconds, rounds: o.rounds, perQuery: 'dnsperf -v (each answer with its latency)' },
      resolver,
      unbound: peer,
      ratio,
      writeToAnswer,
      failover,
    };
  } finally {
    await unbound.stop();
  }
}

/**
 * `writes` PUTs one after another over 10 routes of `tenant`, each to a new address; each timed
 * from its answer until the resolver's DNS answers that address (polled every `pollMs` over UDP).
 * @param {{ api: string, token: string, tenant: string, dnsPort: number, zone: string, writes: number, pollMs: number, shouldStop: () => boolean, say: Say }} o
 */
async function writesToAnswers({ api, token, tenant, dnsPort, zone, writes, pollMs, shouldStop, say }) {
  const routes = Array.from({ length: 10 }, (_, i) => `${tenant}/write/env-${i}`);
  // The routes exist first: each write below changes an answer, none creates a name.
  await pool(routes.length, 10, (i) => putRoute(api, token, /** @type {string} */ (routes[i]), `http://127.2.255.${i}:8080/`));
  say(`dns: ${writes} PUTs one after another over ${routes.length} routes, each to a new address, timed from its answer until the resolver's DNS answers it (a UDP query every ${pollMs} ms)`);
  const client = new DnsClient(dnsPort);
  /** @type {number[]} */
  const times = [];
  let timedOut = 0;
  let failedWrites = 0;
  try {
    await waitFor('the write routes to be answered over DNS', async () => (await client.address(routeName(/** @type {string} */ (routes[0]), zone))) === '127.2.255.0', { timeoutMs: 30_000, intervalMs: 100, shouldStop });
    for (let i = 0; i < writes && !shouldStop(); i++) {
      const route = /** @type {string} */ (routes[i % routes.length]);
      const name = routeName(route, zone);
      const address = `127.2.${(i >> 8) & 255}.${i & 255}`;
      try {
        await putRoute(api, token, route, `http://${address}:8080/`);
      } catch {
        failedWrites++;
        continue;
      }
      const answered = performance.now();
      const deadline = answered + 10_000;
      for (;;) {
        if ((await client.address(name)) === address) {
          times.push(performance.now() - answered);
          break;
        }
        if (performance.now() > deadline) {
          timedOut++;
          break;
        }
        await sleep(pollMs);
      }
    }
  } finally {
    client.close();
  }
  const s = summarizeLatencies(times);
  say(`  write answered → DNS answers it: p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms (${times.length} of ${writes}; ${timedOut} not within 10 s, ${failedWrites} PUTs failed)`);
  return { writes, answered: times.length, timedOut, failedWrites, pollMs, ms: s.latencyMs, distribution: s.distribution };
}

/**
 * Failover as dig sees it: a route of a primary (127.0.0.2) and a backup (127.0.0.3, priority 2) on
 * HTTP servers of the bench's own, probed by the stack's two probers every `intervalSeconds` with
 * thresholds `threshold`. Each trial waits until the primary is healthy and dig answers it, waits a
 * random moment within a probe interval, stops the primary and times (from the stop) dig's first
 * answer of the backup, dig run again and again; then starts the primary again and waits for the failback.
 * @param {{ api: string, resolverUrl: string, token: string, tenant: string, dnsPort: number, zone: string, failoverTrials: number, intervalSeconds: number, threshold: number, shouldStop: () => boolean, say: Say }} o
 */
async function dnsFailover({ api, resolverUrl, token, tenant, dnsPort, zone, failoverTrials: trials, intervalSeconds, threshold, shouldStop, say }) {
  const primary = await new EndpointServer(undefined, '127.0.0.2').start();
  const backup = await new EndpointServer(undefined, '127.0.0.3').start();
  const route = `${tenant}/fo/prod`;
  const name = routeName(route, zone);
  /** @type {number[]} */
  const ms = [];
  /** @type {number[]} */
  const digs = [];
  try {
    await putPolicy(api, token, route, failoverPolicy({ primary, backup, intervalSeconds, threshold }));
    say(`dns: failover as dig sees it, ${trials} trials: a route of a primary (${primary.url}) and a backup (${backup.url}), probed every ${intervalSeconds} s by the stack's two probers, thresholds ${threshold}; the primary stopped, dig run again and again until it answers the backup`);
    // Both endpoints healthy, and dig answering the primary.
    const primaryPicked = async () => {
      const res = await send(`${resolverUrl}/v1/resolve/${route}`, { headers: { authorization: `Bearer ${token}` } });
      const body = /** @type {{ endpoints: Array<{ health: string }> }} */ (JSON.parse(res.body));
      return res.status === 200 && body.endpoints.every((e) => e.health === 'healthy') && (await digAddress(dnsPort, name)) === primary.host;
    };
    for (let trial = 0; trial < trials && !shouldStop(); trial++) {
      await waitFor('the primary to be healthy and answered by dig', primaryPicked, { timeoutMs: 60_000, intervalMs: 50, shouldStop });
      await sleep(Math.random() * intervalSeconds * 1000);
      const stoppedAt = performance.now();
      await primary.stop();
      let taken = Infinity;
      let count = 0;
      while (performance.now() - stoppedAt < 30_000) {
        count++;
        if ((await digAddress(dnsPort, name)) === backup.host) {
          taken = performance.now() - stoppedAt;
          break;
        }
      }
      ms.push(taken);
      digs.push(count);
      say(`  trial ${trial + 1} of ${trials}: dig answered the backup after ${Math.round(taken)} ms (${count} digs)`);
      // The next trial waits for the failback.
      await primary.start();
    }
  } finally {
    await Promise.all([primary.stop(), backup.stop()]);
  }
  const times = summarizeTrials(ms);
  // How long one dig took (the resolution of these times): the trials that ended, over their digs.
  const ended = ms.map((m, i) => [m, digs[i] ?? 0]).filter(([m]) => Number.isFinite(m));
  const digMs = ended.length ? round3(ended.reduce((a, [m]) => a + m, 0) / ended.reduce((a, [, n]) => a + n, 0)) : null;
  const targetMs = intervalSeconds * threshold * 1000 + 100;
  say(`  dig: the backup after p50 ${times.p50} ms, max ${times.max} ms (the HTTP failover's target ${targetMs} ms)`);
  return { trials: ms.length, intervalSeconds, threshold, probers: 2, targetMs, ms: times, digMs };
}
