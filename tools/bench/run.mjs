// `npm run bench`: the product's benchmark, in one run on one machine, reported side by side.
//   - resolver cache hits beside peers measured with the same generator (wrk, a process of its own)
//     in the same run: the Node `http` floor, bare Fastify with the same body and auth check, and
//     etcd's serializable range; our watch delivery beside etcd's at the same stream counts;
//   - the resolver's database path (consistency=strong) and the resolver with Redis down (BYPASS);
//   - convergence: writes at a steady rate, from each write's answer to the resolver answering it;
//   - writes: PUTs per second with 20 clients, and the relay's publish latency;
//   - change-sets: routes per second in change sets of 1, 10, 100 and 1,000 routes, and other
//     tenants' PUTs beside ten 1,000-route sets;
//   - in-sync: from a write's answer to GET /v1/revisions/{R} saying in sync;
//   - traffic policies: hits on routes of 4 probed endpoints against single-URL routes, and the
//     failover time (a primary stops: every resolver answer and the SDK's memory pick the backup);
//   - DNS: dnsperf on the resolver's DNS beside an Unbound serving the same names, write → DNS
//     answer, and failover as dig sees it (tools/bench/dns.mjs).
// Starts the stack itself (tools/stack/start.mjs, as `npm start`) and stops it at the end, on
// Ctrl-C and on failure; or measures one already running with --attach (and TM_ADMIN_TOKEN).
// Writes tools/bench/results/latest.{json,md,svg} and a copy under tools/bench/results/raw/<time>/ with the logs.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { tcpOpen } from '../stack/infra.mjs';
import { countersBy, delta, pool, sumOf } from './lib.mjs';
import { changeSetPhase, inSyncPhase } from './change-sets.mjs';
import { applyLag, call, convergence, createReadKeys, deleteKey, feedDelay, load, publishLatency, putRoute, stopLoad } from './phases.mjs';
import { watchDelivery } from './watch.mjs';
import { proberHostile, proberWarnings } from './prober-hostile.mjs';
import { B_OTHER_RESOLVER_RATE, noisyNeighbour, noisyWarnings } from './noisy.mjs';
import { watchSoak } from './soak.mjs';
import { failoverTrials, policyHits, policyTenants } from './policies.mjs';
import { renderReplicas, replicasPhase } from './replicas.mjs';
import { freePort, groupMembers, httpOk, processesMatching, sleep, spawnLogged, tail, WaitError, waitFor } from './processes.mjs';
import { flameGraphSvg, stageCosts } from './profile.cjs';
import { AT_CEILING, cpuBusyShare, evaluateGoals, formatMs, generatorVerdict, QUIET_BUSY_SHARE, renderMarkdown, renderSvg } from './report.cjs';
import { debianTool, ToolError } from '../stack/debian.mjs';
import { ETCD, etcdPut, etcdWatchDelivery, rangeRequests, startEtcd } from './etcd.mjs';
import { processCpuSeconds, stopWrk, WRK, wrkLoad } from './wrk.mjs';
import { APPS, appUrls, dnsPortOf, PROBERS, proberUrls, stackReady, startStack } from './stack.mjs';
import { DIG, DNSPERF, dnsPhase, UNBOUND } from './dns.mjs';

/** @typedef {import('./lib.mjs').Counters} Counters */
/** @typedef {import('./processes.mjs').Logged} Logged */
/** @typedef {import('./report.cjs').Json} Json */
/** @typedef {Awaited<ReturnType<typeof load>>} LoadResult A phase's load as autocannon measured it (the writes). */
/** @typedef {import('./wrk.mjs').WrkResult} ReadResult A read phase's load as wrk measured it. */
/** @typedef {ReturnType<typeof startStack>} Stack */
/**
 * The run's results, written as results.json and rendered by report.cjs: the settings, the machine,
 * and each phase's measurements under its name (a phase that did not run is absent).
 * @typedef {{
 *   date: string,
 *   machine: ReturnType<typeof machine>,
 *   git: ReturnType<typeof git>,
 *   settings: Settings,
 *   phases: {
 *     floor?: ReadResult & { note: string },
 *     baseline?: ReadResult & { note: string },
 *     hits?: ReadResult & { cache: Counters },
 *     etcdRange?: ReadResult & { note: string },
 *     database?: ReadResult & { mode: string, cache: Counters, note: string },
 *     bypass?: ReadResult & { cache: Counters, note: string },
 *     writes?: LoadResult & { relayPublishMs: ReturnType<typeof publishLatency>, workerApplyMs: ReturnType<typeof applyLag> },
 *   },
 *   warnings: string[],
 *   policyHits?: Awaited<ReturnType<typeof policyHits>> & { selections: Counters },
 *   convergence?: Awaited<ReturnType<typeof convergence>> & { relayPublishMs: ReturnType<typeof publishLatency>, workerApplyMs: ReturnType<typeof applyLag>, resolverFeedMs: ReturnType<typeof feedDelay> },
 *   watch?: Awaited<ReturnType<typeof watchDelivery>>,
 *   watchRuns?: Array<Awaited<ReturnType<typeof watchDelivery>>>,
 *   etcdWatch?: Array<Awaited<ReturnType<typeof etcdWatchDelivery>>>,
 *   quiet: Array<{ phase: string, busyShare: number | null }>,
 *   sdk?: Json,
 *   failover?: Awaited<ReturnType<typeof failoverTrials>>,
 *   proberHostile?: Awaited<ReturnType<typeof proberHostile>>,
 *   noisyNeighbour?: Awaited<ReturnType<typeof noisyNeighbour>>,
 *   watchSoak?: Awaited<ReturnType<typeof watchSoak>>,
 *   hitProfile?: ReturnType<typeof stageCosts> & { requestsPerSecond: number, cpuprofile: string, flameGraph: string },
 *   replicas?: Awaited<ReturnType<typeof replicasPhase>>,
 *   changeSets?: Awaited<ReturnType<typeof changeSetPhase>>,
 *   inSync?: Awaited<ReturnType<typeof inSyncPhase>>,
 *   dns?: Awaited<ReturnType<typeof dnsPhase>>,
 *   goals?: ReturnType<typeof evaluateGoals>,
 * }} Results
 */

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The read phases that compare servers: measured with wrk. */
const READ_PHASES = ['floor', 'baseline', 'hits', 'hit-profile', 'policy-hits', 'etcd-range', 'database', 'bypass'];
const PHASES = ['floor', 'baseline', 'hits', 'hit-profile', 'policy-hits', 'etcd-range', 'database', 'bypass', 'convergence', 'watch', 'etcd-watch', 'sdk', 'failover', 'dns', 'writes', 'change-sets', 'in-sync', 'prober-hostile', 'noisy-neighbour', 'watch-soak', 'replicas'];
const HELP = `npm run bench [-- options]

Measures the stack on this machine and writes tools/bench/results/latest.{json,md,svg}.
Without --attach it starts the stack itself (as npm start does, on its own database
traffic_manager_bench and cache prefix tm:bench:) and stops it at the end.
Read phases are measured with wrk (Debian's; one thread, a process of its own) beside peers in the
same run: the Node http floor, bare Fastify (baseline) and an etcd of the bench's own (Debian's
etcd-server, for reads and watch delivery); the dns phase measures the resolver's DNS with
Debian's dnsperf beside an Unbound of its own (and dig); apt-get installs wrk, etcd-server, dnsperf,
unbound and bind9-dnsutils when missing.

  --attach                 measure the stack already running (needs TM_ADMIN_TOKEN; ports from
                           COMMAND_API_PORT, RESOLVER_PORT, OUTBOX_RELAY_PORT, INVALIDATION_WORKER_PORT,
                           and RESOLVER_DNS_PORT, DNS_ZONE, DNS_TTL_SECONDS for the dns phase)
  --duration <s>           seconds of each load phase (10)
  --warmup <s>             seconds of load before each phase, not counted (2)
  --connections <n>        wrk connections of every read phase, the same for every server (50)
  --routes <n>             routes the resolver phases cycle through (100)
  --write-connections <n>  concurrent clients of the writes phase (20)
  --writes <n>             convergence, watch and etcd-watch writes (1000)
  --rate <n>               convergence, watch and etcd-watch writes per second (100)
  --watch-streams <list>   watch, etcd-watch: streams open on the resolver (and watches on etcd), in a
                           process of their own; a comma-separated list runs each count (1000;
                           e.g. 1000,10000)
  --watch-tenants <n>      watch: tenants the streams and the writes are spread over, and etcd-watch's
                           prefixes (100)
  --poll <ms>              convergence: pause between the resolver polls of a write, or 5% of
                           the time waited so far when that is longer (1)
  --failover-trials <n>    failover: trials, each a primary stopped and started again (20)
  --dns-routes <n>         dns: routes (A records) dnsperf cycles through, on the resolver and Unbound (1000)
  --dns-writes <n>         dns: PUTs one after another, each timed until the resolver's DNS answers it (200)
  --dns-failover-trials <n>  dns: trials of a primary stopped, timed until dig answers the backup (5)
  --probe-interval <s>     failover, noisy-neighbour, dns: the failover route's probe interval in seconds (1)
  --threshold <n>          failover, noisy-neighbour, dns: the healthy and unhealthy thresholds (2)
  --prober-seconds <s>     prober-hostile: seconds measured without the hostile tenant, then with it (30)
  --soak-minutes <n>       watch-soak: minutes of writes (10)
  --soak-streams <n>       watch-soak: streams open on the resolver (10000)
  --soak-non-readers <n>   watch-soak: of those, streams whose client never reads (a tenth)
  --soak-tenants <n>       watch-soak: tenants (each with a key of its own) the streams and writes
                           are spread over (100)
  --soak-rate <n>          watch-soak: writes per second (100)
  --noisy-seconds <s>      noisy-neighbour: seconds tenant B is measured without tenant A, then with it (30)
  --noisy-rate <n>         noisy-neighbour: B's resolves per second (200; with its other requests, under
                           RATE_LIMIT_PER_KEY's default 1,000)
  --noisy-write-rate <n>   noisy-neighbour: B's writes per second, timed to their events on its stream (10)
  --noisy-flood-rate <n>   noisy-neighbour: A's resolves per second on one key (3000: above the rate limit)
  --noisy-streams <n>      noisy-neighbour: A's streams that never read, 1,000 per key (2000: the quotas)
  --only <list>            comma-separated phases: ${PHASES.join(',')} (all)
  --log-level <level>      LOG_LEVEL of the stack the bench starts (the apps' default: info)
  --database <url>         PostgreSQL of the Redis-down resolver (with --attach: DATABASE_URL, else
                           the local traffic_manager)
  --out <dir>              where results go (tools/bench/results)
  --help`;

const { values: opts } = parseArgs({
  options: {
    attach: { type: 'boolean', default: false },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    routes: { type: 'string', default: '100' },
    'write-connections': { type: 'string', default: '20' },
    writes: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '100' },
    poll: { type: 'string', default: '1' },
    'watch-streams': { type: 'string', default: '1000' },
    'watch-tenants': { type: 'string', default: '100' },
    'failover-trials': { type: 'string', default: '20' },
    'dns-routes': { type: 'string', default: '1000' },
    'dns-writes': { type: 'string', default: '200' },
    'dns-failover-trials': { type: 'string', default: '5' },
    'probe-interval': { type: 'string', default: '1' },
    threshold: { type: 'string', default: '2' },
    'prober-seconds': { type: 'string', default: '30' },
    'soak-minutes': { type: 'string', default: '10' },
    'soak-streams': { type: 'string', default: '10000' },
    'soak-non-readers': { type: 'string' },
    'soak-tenants': { type: 'string', default: '100' },
    'soak-rate': { type: 'string', default: '100' },
    'noisy-seconds': { type: 'string', default: '30' },
    'noisy-rate': { type: 'string', default: '200' },
    'noisy-write-rate': { type: 'string', default: '10' },
    'noisy-flood-rate': { type: 'string', default: '3000' },
    'noisy-streams': { type: 'string', default: '2000' },
    only: { type: 'string', default: PHASES.join(',') },
    'log-level': { type: 'string' },
    database: { type: 'string' },
    out: { type: 'string', default: join(repo, 'tools', 'bench', 'results') },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

/** @param {string} line */
function say(line) {
  process.stdout.write(`[bench] ${line}\n`);
}

/** A failure worth one line: what is wrong and what to do. */
class BenchError extends Error {}

/**
 * An option's value as a positive number (a whole one unless `integer` is false).
 * @param {keyof typeof opts} name
 */
function positive(name, { integer = true } = {}) {
  const v = Number(opts[name]);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new BenchError(`--${name} must be a positive ${integer ? 'whole ' : ''}number`);
  return v;
}

/** The resolver's quotas the soak's streams must stay inside (their defaults: the stack the bench starts keeps them). */
const WATCH_QUOTAS = { perKey: 1_000, perTenant: 2_000 };
/** RATE_LIMIT_PER_KEY's default: tenant B stays under it, tenant A's flood goes above it. */
const RATE_LIMIT_PER_KEY = 1_000;
/**
 * dnsperf's threads and sockets (clients) in the dns phase; the queries in flight are --connections.
 * One thread (dnsperf runs a sender and a receiver for it) keeps a core free for the server on 2 cores.
 */
const DNSPERF_THREADS = 1;
const DNSPERF_CLIENTS = 10;

/**
 * The soak's streams spread evenly over its tenants, one key each, within the per-key and per-tenant quotas.
 * @param {Settings} settings
 */
function checkSoak({ soakStreams: streams, soakNonReaders: nonReaders, soakTenants: tenants }) {
  if (nonReaders >= streams) throw new BenchError('--soak-non-readers must be fewer than --soak-streams');
  if (streams % tenants !== 0 || nonReaders % tenants !== 0) throw new BenchError('--soak-streams and --soak-non-readers must be multiples of --soak-tenants (the same share for every tenant)');
  const perTenant = streams / tenants;
  if (perTenant > Math.min(WATCH_QUOTAS.perKey, WATCH_QUOTAS.perTenant)) {
    throw new BenchError(`--soak-streams ${streams} over ${tenants} tenants is ${perTenant} streams per tenant and key, above WATCH_MAX_STREAMS_PER_KEY's default ${WATCH_QUOTAS.perKey}: raise --soak-tenants`);
  }
}

/**
 * Tenant B stays under its rate limit, A's flood goes above it, A's streams stay within its tenant's quota.
 * @param {Settings} settings
 */
function checkNoisy({ noisyRate, noisyWriteRate, noisyFloodRate, noisyStreams }) {
  if (noisyRate + B_OTHER_RESOLVER_RATE >= RATE_LIMIT_PER_KEY) {
    throw new BenchError(`--noisy-rate ${noisyRate}: with B's failover polls and health reads (${B_OTHER_RESOLVER_RATE}/s) its key would reach RATE_LIMIT_PER_KEY's default ${RATE_LIMIT_PER_KEY}/s; B must stay under it`);
  }
  if (noisyWriteRate >= RATE_LIMIT_PER_KEY) throw new BenchError(`--noisy-write-rate must stay under RATE_LIMIT_PER_KEY's default ${RATE_LIMIT_PER_KEY}`);
  if (noisyFloodRate <= RATE_LIMIT_PER_KEY) throw new BenchError(`--noisy-flood-rate must be above RATE_LIMIT_PER_KEY's default ${RATE_LIMIT_PER_KEY}: A's flood is past its rate`);
  if (noisyStreams > WATCH_QUOTAS.perTenant) throw new BenchError(`--noisy-streams must be at most WATCH_MAX_STREAMS_PER_TENANT's default ${WATCH_QUOTAS.perTenant} (A's streams over it are refused)`);
}

/** --watch-streams: one or more positive whole numbers, comma-separated. */
function streamCounts() {
  const counts = String(opts['watch-streams']).split(',').map((x) => Number(x.trim()));
  if (!counts.length || counts.some((n) => !Number.isInteger(n) || n <= 0)) throw new BenchError('--watch-streams must be positive whole numbers, comma-separated (e.g. 1000,10000)');
  return counts;
}

/** The run's settings from the options (a BenchError names a wrong one). */
function readSettings() {
  const read = {
    durationSeconds: positive('duration'),
    warmupSeconds: opts.warmup === '0' ? 0 : positive('warmup'),
    connections: positive('connections'),
    routes: positive('routes'),
    writeConnections: positive('write-connections'),
    convergenceWrites: positive('writes'),
    convergenceRate: positive('rate', { integer: false }),
    pollMs: opts.poll === '0' ? 0 : positive('poll', { integer: false }),
    watchStreams: streamCounts(),
    watchTenants: positive('watch-tenants'),
    failoverTrials: positive('failover-trials'),
    dnsRoutes: positive('dns-routes'),
    dnsWrites: positive('dns-writes'),
    dnsFailoverTrials: positive('dns-failover-trials'),
    probeIntervalSeconds: positive('probe-interval'),
    threshold: positive('threshold'),
    proberSeconds: positive('prober-seconds'),
    soakMinutes: positive('soak-minutes', { integer: false }),
    soakStreams: positive('soak-streams'),
    soakTenants: positive('soak-tenants'),
    soakRate: positive('soak-rate', { integer: false }),
    noisySeconds: positive('noisy-seconds'),
    noisyRate: positive('noisy-rate', { integer: false }),
    noisyWriteRate: positive('noisy-write-rate', { integer: false }),
    noisyFloodRate: positive('noisy-flood-rate'),
    noisyStreams: positive('noisy-streams'),
  };
  return { ...read, soakNonReaders: opts['soak-non-readers'] === undefined ? Math.round(read.soakStreams / 10) : positive('soak-non-readers') };
}
/**
 * The settings as results.json keeps them: the options', then how the stack was run.
 * @typedef {ReturnType<typeof readSettings> & { watchMaxStreams?: number, stack?: string, logLevel?: string, generator?: string }} Settings
 */

/** @type {Settings} */
let settings;
/** @type {Set<string>} */
let only;
try {
  settings = readSettings();
  if (settings.threshold > 10) throw new BenchError('--threshold must be 1 to 10 (the health check allows no more)');
  checkSoak(settings);
  checkNoisy(settings);
  only = new Set(opts.only.split(',').map((s) => s.trim()));
  const unknown = [...only].filter((p) => !PHASES.includes(p));
  if (unknown.length) throw new BenchError(`--only: unknown phase ${unknown.join(', ')}; phases: ${PHASES.join(', ')}`);
  if (opts.attach && opts['log-level']) throw new BenchError('--log-level sets the level of the stack the bench starts; it has no effect with --attach');
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
}

// ------------------------------------------------------------------------------------------------
// Stopping: whatever the bench started is stopped in reverse order, once, on success, failure or a
// signal. A second Ctrl-C kills those processes at once.

/** @type {Array<() => Promise<unknown>>} */
const cleanups = [];
/** @type {Logged[]} */
const started = [];
let interrupted = false;
const shouldStop = () => interrupted;

process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('exit', () => {
  for (const p of started) if (p.running) p.kill();
});

let firstSignalAt = 0;

/**
 * First Ctrl-C: stop in order. Another one, a second or more later: kill at once. (npm run forwards
 * the terminal's SIGINT to the bench, which the terminal also sent it: one Ctrl-C arrives twice.)
 */
function onSignal() {
  if (!interrupted) {
    interrupted = true;
    firstSignalAt = Date.now();
    say('interrupted: stopping what the bench started (Ctrl-C again to kill it at once)');
    stopLoad();
    stopWrk();
    return;
  }
  if (Date.now() - firstSignalAt < 1000) return;
  say('killing what the bench started');
  for (const p of started) p.kill();
  process.exit(130);
}

function checkInterrupted() {
  if (interrupted) throw new BenchError('interrupted');
}

/**
 * @param {Stack} stack
 * @returns {never}
 */
function stackStopped(stack) {
  throw new BenchError(`the stack stopped during the run; the end of ${stack.proc.logFile}:\n${tail(stack.proc.logFile)}`);
}

/**
 * Between phases: stop when interrupted, fail when the stack is no longer whole.
 * @param {Record<string, string>} urls
 */
async function afterPhase(urls) {
  checkInterrupted();
  if (managedStack && !managedStack.proc.running) stackStopped(managedStack);
  // A phase that loaded the machine (10,000 streams closing at once) may leave an app unready for a
  // moment: a stack that stays unready for 30 s is no longer whole.
  try {
    await waitFor('the stack to answer /health/ready', () => stackReady(urls), { timeoutMs: 30_000, intervalMs: 1_000, shouldStop });
  } catch {
    checkInterrupted();
    throw new BenchError(`the stack no longer answers /health/ready on ${Object.values(urls).join(', ')} (not within 30 s)`);
  }
}

async function runCleanups() {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (e) {
      say(`cleanup failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

// ------------------------------------------------------------------------------------------------

function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model?.trim() || 'unknown CPU',
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    loadAverage: { before: loadavg(), after: /** @type {number[] | undefined} */ (undefined) },
  };
}

function git() {
  const run = (/** @type {string[]} */ ...args) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return { commit: run('rev-parse', 'HEAD'), branch: run('rev-parse', '--abbrev-ref', 'HEAD'), dirty: run('status', '--porcelain', '--untracked-files=no') !== '' };
  } catch {
    return { commit: null, branch: null, dirty: null };
  }
}

/**
 * Scrapes after a load phase: autocannon has stopped, but the requests it left in flight finish first.
 * @param {string} url
 */
async function scrapeSettled(url) {
  await sleep(500);
  return scrape(url);
}

/**
 * An app's /metrics.
 * @param {string} url
 */
async function scrape(url) {
  let res;
  try {
    res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    if (managedStack && !managedStack.proc.running) stackStopped(managedStack);
    // fetch fails with an Error, its cause (when it has one) the network's error.
    const error = /** @type {Error & { cause?: { message?: string } }} */ (e);
    throw new BenchError(`${url}/metrics: ${error.cause?.message ?? error.message}`);
  }
  if (res.status !== 200) throw new BenchError(`${url}/metrics answered ${res.status}`);
  return res.text();
}

const answersBy = (/** @type {string} */ text) => countersBy(text, 'tm_resolver_answers_total', 'cache');

/**
 * Waits until the relay has published everything (its backlog gauge at 0).
 * @param {string} relay
 */
async function drained(relay) {
  await waitFor('the outbox to drain', async () => sumOf(await scrape(relay), 'tm_outbox_backlog_rows') === 0, { timeoutMs: 120_000, intervalMs: 100, shouldStop });
}

/**
 * Where a phase's writes spent their time on the way to the cache, from the apps' histograms.
 * @param {{ relayPublishMs?: { p50: number, p99: number }, workerApplyMs?: { p50: number, p99: number }, resolverFeedMs?: { p50: number, p99: number } }} hops
 */
function sayHops({ relayPublishMs: relay, workerApplyMs: worker, resolverFeedMs: feed }) {
  const ms = (/** @type {{ p50: number, p99: number } | undefined} */ x) => (x ? `p50 ${formatMs(x.p50)}, p99 ${formatMs(x.p99)}` : 'not reported');
  say(`  commit → Kafka's ack (relay) ${ms(relay)}; commit → applied in Redis (worker) ${ms(worker)}${feed ? `; commit → read by the resolver's feed ${ms(feed)}` : ''}`);
}

/**
 * One line per finished load phase.
 * @template {LoadResult} R
 * @param {R} r
 */
function sayPhase(r) {
  say(`  ${r.requestsPerSecond.toLocaleString('en-US')} per second, p50 ${formatMs(r.latencyMs.p50)}, p99 ${formatMs(r.latencyMs.p99)}, p99.9 ${formatMs(r.latencyMs.p999)}${r.non2xx || r.errors ? `, ${r.non2xx} non-2xx, ${r.errors} errors` : ''}`);
  return r;
}

/**
 * A phase's streams need as many descriptors in the resolver and in the clients' process (Node raises its soft limit to the hard one).
 * @param {number} streams
 * @param {string} phase
 * @param {string} option
 */
function checkFileLimit(streams, phase, option) {
  let hard;
  try {
    hard = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
  } catch {
    return;
  }
  if (hard !== undefined && hard !== 'unlimited' && Number(hard) < streams + 1_000) {
    throw new BenchError(`${phase}: ${streams} streams need ${streams + 1_000} open files or more in the resolver and the clients' process; the hard limit here is ${hard} (raise it: ulimit -Hn, or ${option})`);
  }
}

/**
 * The stack the bench started, if it did.
 * @type {Stack | undefined}
 */
let managedStack;

async function main() {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const rawDir = join(opts.out, 'raw', stamp);
  mkdirSync(rawDir, { recursive: true });
  /** @type {Results} */
  const results = { date: new Date().toISOString(), machine: machine(), git: git(), settings, phases: {}, warnings: [], quiet: [] };
  const busy = results.machine.loadAverage.before[0];
  if (busy > results.machine.cores / 2) {
    results.warnings.push(`The load average was ${busy.toFixed(1)} on ${results.machine.cores} cores when the run began: other work shared this machine, so these numbers are noisy.`);
  }
  const logLevel = opts['log-level'] ?? process.env.LOG_LEVEL ?? 'info';
  // The Debian tools of the phases asked for, installed now rather than after the stack started.
  if (READ_PHASES.some((p) => only.has(p))) debianTool(WRK, 'wrk', say);
  if (only.has('etcd-range') || only.has('etcd-watch')) debianTool(ETCD, 'etcd-server', say);
  if (only.has('dns')) {
    debianTool(DNSPERF, 'dnsperf', say);
    debianTool(UNBOUND, 'unbound', say);
    debianTool(DIG, 'bind9-dnsutils', say);
  }
  settings.generator = 'wrk';

  /**
   * Was the machine quiet before a measured phase? The share of its CPU busy over about a second
   * (/proc/stat), while the bench's own servers are idle: kept per phase, a warning above QUIET_BUSY_SHARE.
   * @param {string} phase
   */
  const quiet = async (phase) => {
    let busyShare = null;
    try {
      const before = readFileSync('/proc/stat', 'utf8');
      await delay(1_000);
      busyShare = cpuBusyShare(before, readFileSync('/proc/stat', 'utf8'));
    } catch {
      // no /proc/stat here: not known
    }
    results.quiet.push({ phase, busyShare });
    if (busyShare !== null && busyShare > QUIET_BUSY_SHARE) {
      results.warnings.push(`${phase}: the machine was not quiet: ${Math.round(busyShare * 100)}% of its CPU busy in the second before the phase (the bench's servers idle), above ${QUIET_BUSY_SHARE * 100}%`);
    }
  };
  const givenToken = process.env.TM_ADMIN_TOKEN;
  // Without --attach, the stack the bench starts gets this one when the environment has none.
  const token = givenToken ?? `tm_bench_${randomBytes(24).toString('base64url')}`;
  /** @type {string} */
  let databaseUrl;
  /** @type {string | undefined} */
  let cachePrefix;
  const urls = appUrls(process.env);
  // The resolver's DNS port (RESOLVER_DNS_PORT, as npm start reads it; 0: off).
  const dnsPort = dnsPortOf(process.env);
  if (only.has('dns') && dnsPort === 0) throw new BenchError('dns: RESOLVER_DNS_PORT is 0 (DNS off): unset it, or set it to the port the resolver answers DNS on');

  if (opts.attach) {
    if (!givenToken) throw new BenchError('--attach needs TM_ADMIN_TOKEN: the admin token the running stack printed');
    if (!(await stackReady(urls))) throw new BenchError(`--attach: the stack does not answer /health/ready on ${Object.values(urls).join(', ')}`);
    databaseUrl = opts.database ?? process.env.DATABASE_URL ?? `postgres://${process.env.PGUSER || 'postgres'}@127.0.0.1:5432/traffic_manager`;
    cachePrefix = process.env.CACHE_KEY_PREFIX;
    Object.assign(settings, { stack: 'attached to a running stack', logLevel: process.env.LOG_LEVEL ? `${process.env.LOG_LEVEL} (as this shell says; the stack's own is not known)` : 'not known (attached)' });
    say(`attached to the stack at ${urls.api} (command API) and ${urls.resolver} (resolver)`);
  } else {
    for (const [i, url] of [...Object.values(urls), ...proberUrls(process.env)].entries()) {
      const { port } = new URL(url);
      if (await tcpOpen('127.0.0.1', Number(port), 300)) {
        throw new BenchError(
          `port ${port} (${[...APPS, ...PROBERS][i].portVar}) is in use: is a stack running? Measure it with "TM_ADMIN_TOKEN=... npm run bench -- --attach", or set the *_PORT variables to start another`,
        );
      }
    }
    if (dnsPort !== 0 && (await tcpOpen('127.0.0.1', dnsPort, 300))) {
      throw new BenchError(`port ${dnsPort} (RESOLVER_DNS_PORT) is in use: is a stack running? Measure it with --attach, or set RESOLVER_DNS_PORT to start another`);
    }
    databaseUrl = opts.database ?? process.env.DATABASE_URL ?? `postgres://${process.env.PGUSER || 'postgres'}@127.0.0.1:5432/traffic_manager_bench`;
    cachePrefix = process.env.CACHE_KEY_PREFIX ?? 'tm:bench:';
    const env = {
      ...process.env,
      TM_ADMIN_TOKEN: token,
      DATABASE_URL: databaseUrl,
      CACHE_KEY_PREFIX: cachePrefix,
      KAFKA_ROUTE_EVENTS_TOPIC: process.env.KAFKA_ROUTE_EVENTS_TOPIC ?? 'tm.bench.route-events.v1',
      KAFKA_CONSUMER_GROUP: process.env.KAFKA_CONSUMER_GROUP ?? 'tm-bench-invalidation-worker',
      // watch-soak opens --soak-streams streams on the one resolver, above the default 10,000.
      WATCH_MAX_STREAMS: process.env.WATCH_MAX_STREAMS ?? String(Math.max(20_000, settings.soakStreams * 2)),
      LOG_LEVEL: logLevel,
    };
    const logFile = join(rawDir, 'stack.log');
    say(`starting the stack (tools/stack/start.mjs, as npm start; its output goes to ${relative(process.cwd(), logFile)})`);
    const stack = startStack({ repo, env, logFile, print: (l) => process.stdout.write(`${l}\n`) });
    started.push(stack.proc);
    managedStack = stack;
    cleanups.push(async () => {
      say('stopping the stack');
      await stack.stop();
    });
    await stack.ready(shouldStop);
    settings.watchMaxStreams = Number(env.WATCH_MAX_STREAMS);
    Object.assign(settings, {
      stack: `started by the bench (tools/stack/start.mjs as npm start; database ${new URL(databaseUrl).pathname.slice(1)}, cache prefix ${cachePrefix})`,
      logLevel,
    });
    say('the stack is up');
  }
  const auth = { authorization: `Bearer ${token}` };
  checkInterrupted();

  /** hit-profile's resolver: a resolver of the bench's own (the stack's database and Redis) under V8's CPU profiler. */
  async function startProfiled() {
    const main = join(repo, 'dist', 'apps', 'resolver', 'main.js');
    if (!existsSync(main)) throw new BenchError(`${relative(process.cwd(), main)} is missing: build it with "npx nx build resolver"`);
    const port = await freePort();
    const profileDir = join(rawDir, 'hit-profile');
    /** @type {NodeJS.ProcessEnv} */
    const env = { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', RESOLVER_PORT: String(port), HOST: '127.0.0.1', TM_ADMIN_TOKEN: token, LOG_LEVEL: logLevel };
    if (cachePrefix) env.CACHE_KEY_PREFIX = cachePrefix;
    const resolver = spawnLogged('the profiled resolver', process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, main], { cwd: repo, env, logFile: join(rawDir, 'resolver-profiled.log') });
    started.push(resolver);
    cleanups.push(() => resolver.stop());
    const url = `http://127.0.0.1:${port}`;
    await waitFor('the profiled resolver to be ready', () => httpOk(`${url}/health/ready`), { proc: resolver, shouldStop, timeoutMs: 60_000 });
    return { resolver, url, profileDir };
  }

  // Routes: the resolver phases cycle through `routes` routes of a tenant of this run; the writes
  // phase writes 200 routes of another.
  const run = Date.now().toString(36);
  const tenant = `bench-${run}`;
  const routes = Array.from({ length: settings.routes }, (_, i) => `${tenant}/svc-${i % 10}/env-${Math.floor(i / 10)}`);
  const deleteTenant = (/** @type {string} */ t) => call(`${urls.api}/v1/tenants/${t}`, { method: 'DELETE', headers: auth }).catch(() => undefined);
  cleanups.push(async () => {
    const watchTenants = only.has('watch') ? Array.from({ length: settings.watchTenants }, (_, i) => `${tenant}-watch-w${i}`) : [];
    const soakTenants = only.has('watch-soak') ? Array.from({ length: settings.soakTenants }, (_, i) => `${tenant}-soak-s${i}`) : [];
    const others = [`${tenant}-w`, ...policyTenants(`${tenant}-p`, routes.length), `${tenant}-f`, `${tenant}-dns`, `${tenant}-honest`, `${tenant}-hostile`, `${tenant}-noisy-a`, `${tenant}-noisy-b`];
    for (const t of [tenant, ...others, ...watchTenants, ...soakTenants]) await deleteTenant(t);
  });
  // hit-profile's resolver starts before the routes are written, as the stack's did: its memory takes
  // what Redis holds only from revisions its change feed has seen (an answer from before cannot be checked).
  const profiled = only.has('hit-profile') ? await startProfiled() : undefined;
  say(`writing ${routes.length} routes (tenant ${tenant})`);
  await pool(routes.length, 10, (i) => putRoute(urls.api, token, routes[i], `https://r${i}.bench.internal/`));
  // The read phases present stored routes:read keys, as clients do (the admin token skips the rate
  // limiter and would measure less than users get): READ_KEYS of them, each under RATE_LIMIT_PER_KEY
  // at the request rates measured here. Not bound to a tenant, so that policy-hits' tenants take them too.
  const readKeys = await createReadKeys(urls.api, token, run);
  cleanups.push(async () => {
    for (const k of readKeys) await deleteKey(urls.api, token, k.id);
  });
  /** @param {number} i */
  const readAuth = (i) => `Bearer ${readKeys[i % readKeys.length]?.key}`;
  /**
   * What the resolver answers for a hit, per route: the baseline answers the same.
   * @type {Record<string, { body: Json, headers: Record<string, string | string[] | undefined> }>}
   */
  const answers = {};
  await waitFor(
    'every route to be a cache hit',
    async () => {
      let hits = 0;
      for (const route of routes) {
        const res = await call(`${urls.resolver}/v1/resolve/${route}`, { headers: auth });
        if (res.status !== 200) throw new BenchError(`GET /v1/resolve/${route}: ${res.status} ${res.body}`);
        if (res.headers['x-cache'] === 'HIT') hits += 1;
        const pick = ['x-consistency-revision', 'x-cache', 'cache-control', 'age', 'x-route-revision'];
        answers[route] = { body: JSON.parse(res.body), headers: Object.fromEntries(pick.filter((h) => res.headers[h] !== undefined).map((h) => [h, res.headers[h]])) };
      }
      return hits === routes.length;
    },
    { timeoutMs: 30_000, intervalMs: 100, shouldStop },
  );
  const answersFile = join(rawDir, 'baseline-answers.json');
  writeFileSync(answersFile, JSON.stringify(answers));

  // Every read phase that compares servers: wrk (one thread, `connections`), a warm-up not counted,
  // then the measured run, after a second's look at whether the machine is quiet.
  const reqFile = join(rawDir, 'wrk-requests.txt');
  /**
   * @param {string} phase
   * @param {string} url
   * @param {import('./wrk.mjs').WrkRequest[]} requests
   * @param {{ headers?: Record<string, string>, serverCpu?: () => Promise<number> | number }} [options]
   */
  const measure = async (phase, url, requests, { headers = auth, serverCpu } = {}) => {
    await quiet(phase);
    const r = await wrkLoad({ url, connections: settings.connections, duration: settings.durationSeconds, warmup: settings.warmupSeconds, headers, requests, requestsFile: reqFile, serverCpu });
    const g = r.generatorCpu?.shareOfCore;
    if (typeof g === 'number' && g >= AT_CEILING) results.warnings.push(`${phase}: wrk used ${g} of a core: the generator may have been the limit of this phase`);
    return r;
  };
  /** @param {string} url The resolver's CPU seconds so far, from its /metrics. */
  const resolverCpu = (url) => async () => sumOf(await scrape(url), 'tm_process_cpu_seconds_total');
  /** @type {import('./policies.mjs').Read} */
  const readResolver = (phase, url, paths) => measure(phase, url, paths.map((path, i) => ({ path, authorization: readAuth(i) })), { serverCpu: resolverCpu(url), headers: {} });
  const resolvePaths = (query = '') => routes.map((route, i) => ({ path: `/v1/resolve/${route}${query}`, authorization: readAuth(i) }));

  /**
   * One of the bench's own servers (floor.mjs, baseline.mjs) in a process of its own; its first line says where it listens.
   * @param {string} name
   * @param {string} script
   * @param {NodeJS.ProcessEnv} env
   */
  const startServer = async (name, script, env) => {
    const logFile = join(rawDir, `${script.replace('.mjs', '')}.log`);
    const proc = spawnLogged(name, process.execPath, [join(repo, 'tools', 'bench', script)], { cwd: repo, env: { ...process.env, ...env, PORT: '0' }, logFile });
    started.push(proc);
    cleanups.push(() => proc.stop());
    const { port } = await waitFor(`${name} to listen`, () => /** @type {{ port: number }} */ (JSON.parse(tail(logFile, 1))), { proc, shouldStop, timeoutMs: 20_000 });
    return { proc, url: `http://127.0.0.1:${port}`, serverCpu: () => processCpuSeconds(proc.child.pid) };
  };

  /**
   * One line on the generator beside the figures.
   * @param {ReadResult} r
   */
  const sayCpu = (r) => say(`  wrk used ${r.generatorCpu?.shareOfCore ?? '–'} of a core, the server ${r.serverCpu?.shareOfCore ?? '–'}: ${generatorVerdict(r)}`);

  if (only.has('floor')) {
    const floor = await startServer('the Node floor', 'floor.mjs', { BENCH_ANSWERS: answersFile });
    say(`floor: Node http.createServer on ${floor.url} (pid ${floor.proc.child.pid}), a constant body of the hit answer's size; wrk, ${settings.connections} connections, ${settings.durationSeconds} s`);
    const r = sayPhase(await measure('floor', floor.url, resolvePaths(), { serverCpu: floor.serverCpu }));
    sayCpu(r);
    const sv = r.serverCpu?.shareOfCore;
    if (typeof sv === 'number' && sv < AT_CEILING) {
      results.warnings.push(`floor: the Node floor's server used ${sv} of a core, not its ceiling (about 1): ${generatorVerdict(r)}; the ratios of this run compare servers that were not at their ceilings`);
    }
    results.phases.floor = { ...r, note: `a constant ${Buffer.byteLength(JSON.stringify(answers[routes[0]].body))}-byte JSON body, no check, no routing: what one Node process answers here` };
    await floor.proc.stop();
    await afterPhase(urls);
  }

  if (only.has('baseline')) {
    // The resolver's whole answer, which the baseline spreads: the fields a hit carries must be there.
    const missing = ['url', 'endpoints', 'failOpen'].filter((k) => !(k in answers[routes[0]].body));
    if (missing.length) throw new BenchError(`the resolver's hit answer has no ${missing.join(', ')}: the baseline would not answer the same body`);
    const baseline = await startServer('the baseline', 'baseline.mjs', { BENCH_TOKENS: [token, ...readKeys.map((k) => k.key)].join(','), BENCH_ANSWERS: answersFile });
    const url = baseline.url;
    const probe = await call(`${url}/v1/resolve/${routes[0]}`, { headers: auth });
    const unauthorised = await call(`${url}/v1/resolve/${routes[0]}`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
    if (probe.status !== 200 || JSON.stringify(JSON.parse(probe.body)) !== JSON.stringify(answers[routes[0]].body) || unauthorised.status !== 401) {
      throw new BenchError(`the baseline does not answer as the resolver does: ${probe.status} ${probe.body} / ${unauthorised.status}`);
    }
    say(`baseline: bare Fastify on ${url} (pid ${baseline.proc.child.pid}), ${settings.connections} connections, ${settings.durationSeconds} s`);
    const r = sayPhase(await measure('baseline', url, resolvePaths(), { serverCpu: baseline.serverCpu }));
    sayCpu(r);
    results.phases.baseline = { ...r, note: 'same JSON body and headers, same bearer check; no Nest, logs or Redis' };
    await baseline.proc.stop();
    await afterPhase(urls);
  }

  if (only.has('hits')) {
    say(`resolver, cache hits: ${settings.connections} connections, ${settings.durationSeconds} s`);
    const before = answersBy(await scrape(urls.resolver));
    const phase = sayPhase(await readResolver('hits', urls.resolver, routes.map((route) => `/v1/resolve/${route}`)));
    sayCpu(phase);
    results.phases.hits = { ...phase, cache: delta(before, answersBy(await scrapeSettled(urls.resolver))) };
    await afterPhase(urls);
  }

  if (only.has('hit-profile')) {
    // The hit path's budget: a resolver of the bench's own (the stack's database and Redis) under the
    // same load as hits, with V8's CPU profiler on (--cpu-prof; it costs time, so this is not the
    // hits figure), its samples named by stage (profile.cjs) and drawn as a flame graph.
    if (!profiled) throw new BenchError('hit-profile: its resolver was not started');
    const { resolver, url, profileDir } = profiled;
    // Its caches (the keys it trusts, the answers it holds) fill on the first answers, as the stack's did.
    await waitFor('the profiled resolver to answer every route as a hit', async () => {
      let hits = 0;
      for (const [i, route] of routes.entries()) if ((await call(`${url}/v1/resolve/${route}`, { headers: { authorization: readAuth(i) } })).headers['x-cache'] === 'HIT') hits++;
      return hits === routes.length;
    }, { timeoutMs: 30_000, intervalMs: 200, shouldStop });
    say(`hit profile: a resolver of the bench's own with --cpu-prof (pid ${resolver.child.pid}), the hits load, ${settings.durationSeconds} s`);
    const phase = await measure('hit-profile', url, resolvePaths(), { serverCpu: () => processCpuSeconds(resolver.child.pid) });
    await resolver.stop();
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new BenchError(`the profiled resolver wrote no .cpuprofile in ${relative(process.cwd(), profileDir)}`);
    const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8'));
    // The measured run: its last duration seconds before the load stopped (the stop and the exit after it are left out).
    const window = { from: profile.endTime - (settings.durationSeconds + 0.5) * 1e6, to: profile.endTime - 0.2e6 };
    const costs = stageCosts(profile, { ...window, requests: phase.requests });
    const flame = join(rawDir, 'hit-path-flame.svg');
    writeFileSync(flame, flameGraphSvg(profile, { ...window, title: `resolver hits under --cpu-prof: ${phase.requestsPerSecond} req/s, ${results.git.commit?.slice(0, 8) ?? ''} (${file})` }));
    results.hitProfile = { ...costs, requestsPerSecond: phase.requestsPerSecond, cpuprofile: relative(repo, join(profileDir, file)), flameGraph: relative(repo, flame) };
    const heaviest = [...costs.stages].sort((a, b) => b.ms - a.ms).slice(0, 3);
    say(`  ${costs.busyMs} ms busy over ${phase.requests} answers; heaviest: ${heaviest.map((s) => `${s.stage} ${s.usPerRequest} µs (${Math.round(s.share * 100)}%)`).join(', ')}; flame graph ${relative(process.cwd(), flame)}`);
    await afterPhase(urls);
  }

  if (only.has('policy-hits')) {
    say(`policy hits: the resolver's cache hits on routes of 4 probed endpoints against single-URL routes, alternating rounds of ${settings.durationSeconds} s, ${settings.connections} connections`);
    const before = await scrape(urls.resolver);
    const hits = await policyHits({
      api: urls.api,
      resolver: urls.resolver,
      token,
      tenant: `${tenant}-p`,
      routes,
      read: readResolver,
      durationSeconds: settings.durationSeconds,
      connections: settings.connections,
      shouldStop,
      say,
    });
    // Its endpoints have stopped: the probers would go on probing them (refused) in later phases.
    for (const t of policyTenants(`${tenant}-p`, routes.length)) await deleteTenant(t);
    const selections = delta(countersBy(before, 'tm_resolver_selections_total', 'outcome'), countersBy(await scrapeSettled(urls.resolver), 'tm_resolver_selections_total', 'outcome'));
    results.policyHits = { ...hits, selections };
    const { single, policy, costPercent } = hits;
    say(`  single-URL ${single.requestsPerSecond.toLocaleString('en-US')}/s, 4-endpoint ${policy.requestsPerSecond.toLocaleString('en-US')}/s: the selection costs ${costPercent}% of the throughput`);
    if (policy.non2xx || policy.errors) results.warnings.push(`policy hits: ${policy.non2xx} non-2xx answers, ${policy.errors} errors`);
    await afterPhase(urls);
  }

  if (only.has('etcd-range')) {
    const etcd = await startEtcd({ logFile: join(rawDir, 'etcd-range.log'), shouldStop });
    started.push(etcd.proc);
    cleanups.push(etcd.stop);
    // Each route's key holds the resolver's answer for it, as the baseline's map does.
    const keys = routes.map((route) => `/routes/${route}`);
    await pool(keys.length, 10, (i) => etcdPut(etcd.url, keys[i], JSON.stringify(answers[routes[i]].body)));
    say(`etcd range: etcd ${etcd.url} (pid ${etcd.proc.child.pid}, data in ${etcd.dataDir}), a serializable range of one key per request over its JSON gateway, ${routes.length} keys; ${settings.connections} connections, ${settings.durationSeconds} s`);
    const r = sayPhase(await measure('etcd-range', etcd.url, rangeRequests(keys), { headers: { 'content-type': 'application/json' }, serverCpu: () => processCpuSeconds(etcd.proc.child.pid) }));
    sayCpu(r);
    results.phases.etcdRange = { ...r, note: `POST /v3/kv/range {key, serializable: true} over ${keys.length} keys holding the resolver's answers; no authentication` };
    await etcd.stop();
    await afterPhase(urls);
  }

  if (only.has('database')) {
    say(`resolver, database path (?consistency=strong): ${settings.connections} connections, ${settings.durationSeconds} s`);
    const before = await scrape(urls.resolver);
    const phase = sayPhase(await measure('database', urls.resolver, resolvePaths('?consistency=strong'), { serverCpu: resolverCpu(urls.resolver) }));
    const after = await scrapeSettled(urls.resolver);
    const reads = sumOf(after, 'tm_resolver_database_reads_total') - sumOf(before, 'tm_resolver_database_reads_total');
    const cache = delta(answersBy(before), answersBy(after));
    const answered = Object.values(cache).reduce((a, b) => a + b, 0);
    results.phases.database = {
      ...phase,
      mode: '?consistency=strong',
      cache,
      note: `every request reads PostgreSQL (${answered ? (reads / answered).toFixed(2) : '–'} reads per answer, concurrent reads of a route shared) and offers Redis a fill`,
    };
    await afterPhase(urls);
  }

  if (only.has('bypass')) {
    const main = join(repo, 'dist', 'apps', 'resolver', 'main.js');
    if (!existsSync(main)) throw new BenchError(`${relative(process.cwd(), main)} is missing: build it with "npx nx build resolver"`);
    const [port, deadRedis] = [await freePort(), await freePort()];
    const logFile = join(rawDir, 'resolver-redis-down.log');
    /** @type {NodeJS.ProcessEnv} */
    const env = { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: `redis://127.0.0.1:${deadRedis}`, RESOLVER_PORT: String(port), HOST: '127.0.0.1', TM_ADMIN_TOKEN: token, LOG_LEVEL: logLevel };
    if (cachePrefix) env.CACHE_KEY_PREFIX = cachePrefix;
    const resolver = spawnLogged('the Redis-down resolver', process.execPath, [main], { cwd: repo, env, logFile });
    started.push(resolver);
    cleanups.push(() => resolver.stop());
    const url = `http://127.0.0.1:${port}`;
    await waitFor('the Redis-down resolver to answer /health/live', () => httpOk(`${url}/health/live`), { proc: resolver, shouldStop, timeoutMs: 60_000 });
    // Its first requests try Redis (and time out) until the breaker opens; then every answer is BYPASS.
    let probe = await call(`${url}/v1/resolve/${routes[0]}`, { headers: auth });
    for (let i = 1; i < 20; i++) probe = await call(`${url}/v1/resolve/${routes[0]}`, { headers: auth });
    if (probe.status !== 200 || probe.headers['x-cache'] !== 'BYPASS') {
      throw new BenchError(
        `the resolver with Redis down answered ${probe.status} X-Cache: ${probe.headers['x-cache']}, not 200 BYPASS` +
          (probe.status === 404 ? ` (does it read the stack's database? it reads ${databaseUrl}; set --database)` : ''),
      );
    }
    say(`resolver, Redis down (REDIS_URL to port ${deadRedis}, where nothing listens; pid ${resolver.child.pid}): ${settings.connections} connections, ${settings.durationSeconds} s`);
    const before = await scrape(url);
    const phase = sayPhase(await measure('bypass', url, resolvePaths(), { serverCpu: () => processCpuSeconds(resolver.child.pid) }));
    const after = await scrapeSettled(url);
    const redisErrors = sumOf(after, 'tm_resolver_redis_errors_total') - sumOf(before, 'tm_resolver_redis_errors_total');
    results.phases.bypass = {
      ...phase,
      cache: delta(answersBy(before), answersBy(after)),
      note: `a resolver of the bench's own whose Redis refuses connections; ${redisErrors} Redis errors while the breaker let a request try`,
    };
    await resolver.stop();
    await afterPhase(urls);
  }

  if (only.has('convergence')) {
    const { convergenceWrites: writes, convergenceRate: rate } = settings;
    say(`convergence: ${writes} writes at ${rate} per second, each followed by resolver GETs until it answers the write's revision`);
    await drained(urls.relay);
    const before = await scrape(urls.relay);
    const workerBefore = await scrape(urls.worker);
    const resolverBefore = await scrape(urls.resolver);
    const c = await convergence({ api: urls.api, resolver: urls.resolver, token, routes, writes, rate, pollMs: settings.pollMs, timeoutMs: 10_000, shouldStop });
    await drained(urls.relay);
    results.convergence = {
      ...c,
      relayPublishMs: publishLatency(before, await scrape(urls.relay)),
      workerApplyMs: applyLag(workerBefore, await scrapeSettled(urls.worker)),
      resolverFeedMs: feedDelay(resolverBefore, await scrape(urls.resolver)),
    };
    say(`  ${c.converged} of ${c.writes} seen: p50 ${formatMs(c.ms.p50)}, p99 ${formatMs(c.ms.p99)}, max ${formatMs(c.ms.max)}`);
    sayHops(results.convergence);
    if (c.failedWrites) results.warnings.push(`convergence: ${c.failedWrites} of ${c.writes} PUTs failed (the first: ${c.firstFailure})`);
    if (c.lateStarts) results.warnings.push(`convergence: ${c.lateStarts} writes started more than one interval late (the bench could not keep the pace)`);
    await afterPhase(urls);
  }

  if (only.has('watch')) {
    const { watchStreams: counts, watchTenants: tenantCount, convergenceWrites: writes, convergenceRate: rate } = settings;
    results.watchRuns = [];
    for (const streams of counts) {
      checkFileLimit(streams, 'watch', '--watch-streams');
      if (streams % tenantCount !== 0) throw new BenchError(`--watch-streams ${streams} must be a multiple of --watch-tenants ${tenantCount} (the same streams for every tenant)`);
      await quiet(`watch (${streams} streams)`);
      say(`watch: ${streams} streams over ${tenantCount} tenants on one resolver; ${writes} writes at ${rate} per second, each timed from its answer to its event at every stream of its tenant`);
      const w = await watchDelivery({
        api: urls.api,
        resolver: urls.resolver,
        token,
        tenant: `${tenant}-watch`,
        tenantCount,
        streams,
        writes,
        rate,
        logFile: join(rawDir, `watch-clients-${streams}.log`),
        scrape,
        shouldStop,
      });
      results.watchRuns.push(w);
      // The first count keeps the phase's old place in the results.
      results.watch ??= w;
      say(`  ${w.deliveries} deliveries of ${w.writes} writes: p50 ${formatMs(w.ms.p50)}, p99 ${formatMs(w.ms.p99)}, max ${formatMs(w.ms.max)}; ${w.missing} missing; resolver memory per stream ${Math.round(w.memory.residentPerStreamBytes / 1024)} KiB resident, ${Math.round(w.memory.heapPerStreamBytes / 1024)} KiB heap`);
      if (w.missing) results.warnings.push(`watch (${streams} streams): ${w.missing} deliveries did not arrive within 2 s of the last write's answer`);
      if (w.failedWrites) results.warnings.push(`watch (${streams} streams): ${w.failedWrites} of the PUTs failed`);
      await afterPhase(urls);
    }
  }

  if (only.has('etcd-watch')) {
    const { watchStreams: counts, watchTenants: prefixCount, convergenceWrites: writes, convergenceRate: rate } = settings;
    results.etcdWatch = [];
    for (const streams of counts) {
      checkFileLimit(streams, 'etcd-watch', '--watch-streams');
      const etcd = await startEtcd({ logFile: join(rawDir, `etcd-watch-${streams}.log`), shouldStop });
      started.push(etcd.proc);
      cleanups.push(etcd.stop);
      await quiet(`etcd-watch (${streams} streams)`);
      say(`etcd watch: ${streams} watches over ${prefixCount} prefixes on etcd ${etcd.url} (pid ${etcd.proc.child.pid}); ${writes} puts at ${rate} per second, each timed from its answer to its event at every watch of its prefix`);
      const e = await etcdWatchDelivery({ etcd, prefix: `/bench-${run}`, prefixCount, streams, writes, rate, logFile: join(rawDir, `etcd-watch-clients-${streams}.log`), shouldStop });
      results.etcdWatch.push(e);
      say(`  ${e.deliveries} deliveries of ${e.writes} puts: p50 ${formatMs(e.ms.p50)}, p99 ${formatMs(e.ms.p99)}, max ${formatMs(e.ms.max)}; ${e.missing} missing; etcd memory per watch ${Math.round(e.memory.residentPerStreamBytes / 1024)} KiB resident`);
      if (e.missing) results.warnings.push(`etcd-watch (${streams} streams): ${e.missing} deliveries did not arrive within 2 s of the last put's answer`);
      if (e.failedWrites) results.warnings.push(`etcd-watch (${streams} streams): ${e.failedWrites} of the puts failed`);
      await etcd.stop();
      await afterPhase(urls);
    }
  }

  if (only.has('sdk')) {
    const { convergenceWrites: writes, convergenceRate: rate } = settings;
    say('sdk: building the client package (dist/libs/client)');
    execFileSync('npx', ['nx', 'build', 'client', '--output-style=static'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
    say(`sdk: in-process lookups from the watch's memory over ${routes.length} routes, then ${writes} writes at ${rate} per second, each timed from its answer to the client's memory answering it`);
    const probe = spawnLogged('sdk-probe', process.execPath, [join(repo, 'tools', 'bench', 'sdk-probe.mjs'), '--resolver', urls.resolver, '--api', urls.api, '--token', token, '--routes', routes.join(','), '--writes', String(writes), '--rate', String(rate)], {
      cwd: repo,
      env: process.env,
      logFile: join(rawDir, 'sdk-probe.log'),
    });
    started.push(probe);
    const { code } = await probe.exited;
    const lines = readFileSync(probe.logFile, 'utf8').trim().split('\n');
    if (code !== 0) throw new BenchError(`sdk: the probe exited ${code}: ${lines.slice(-3).join(' / ')}`);
    // The probe's last line: its results, JSON of another process.
    const sdk = /** @type {Json} */ (JSON.parse(lines[lines.length - 1]));
    results.sdk = sdk;
    const { lookups, convergence: c } = sdk;
    say(`  ${(lookups.perSecond / 1e6).toFixed(2)} million lookups per second on one core, p50 ${lookups.p50Ns} ns, p99 ${lookups.p99Ns} ns; convergence into memory p50 ${formatMs(c.ms.p50)}, p99 ${formatMs(c.ms.p99)}, max ${formatMs(c.ms.max)}`);
    if (c.failedWrites || c.timedOut) results.warnings.push(`sdk: ${c.failedWrites} PUTs failed, ${c.timedOut} writes not in memory within 10 s`);
    await afterPhase(urls);
  }

  if (only.has('failover')) {
    const { failoverTrials: trials, probeIntervalSeconds: intervalSeconds, threshold } = settings;
    if (!only.has('sdk')) {
      say('failover: building the client package (dist/libs/client)');
      execFileSync('npx', ['nx', 'build', 'client', '--output-style=static'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
    }
    say(`failover: ${trials} trials of a primary stopped (probed every ${intervalSeconds} s by the stack's two probers, thresholds ${threshold}), timed to the first resolver answer and the first SDK memory answer that pick the backup`);
    const f = await failoverTrials({ api: urls.api, resolver: urls.resolver, token, tenant: `${tenant}-f`, trials, intervalSeconds, threshold, repo, shouldStop, say });
    await deleteTenant(`${tenant}-f`);
    results.failover = f;
    say(`  resolver p50 ${formatMs(f.resolver.p50)}, p99 ${formatMs(f.resolver.p99)}; SDK memory p50 ${formatMs(f.sdk.p50)}, p99 ${formatMs(f.sdk.p99)} (target ${formatMs(f.targetMs)})`);
    if (f.resolver.missed || f.sdk.missed) results.warnings.push(`failover: ${f.resolver.missed} resolver and ${f.sdk.missed} SDK trials never picked the backup within 30 s`);
    await afterPhase(urls);
  }

  if (only.has('dns')) {
    const zone = process.env.DNS_ZONE ?? 'tm.internal.';
    const d = await dnsPhase({
      api: urls.api,
      resolverUrl: urls.resolver,
      token,
      tenant: `${tenant}-dns`,
      dnsPort,
      zone,
      ttlSeconds: Number(process.env.DNS_TTL_SECONDS ?? 5),
      routes: settings.dnsRoutes,
      seconds: settings.durationSeconds,
      warmupSeconds: settings.warmupSeconds,
      rounds: 2,
      outstanding: settings.connections,
      clients: DNSPERF_CLIENTS,
      threads: DNSPERF_THREADS,
      writes: settings.dnsWrites,
      failoverTrials: settings.dnsFailoverTrials,
      intervalSeconds: settings.probeIntervalSeconds,
      threshold: settings.threshold,
      resolverCpu: resolverCpu(urls.resolver),
      resolverAnswers: async () => answersBy(await scrape(urls.resolver)),
      quiet,
      rawDir,
      started,
      shouldStop,
      say,
    });
    await deleteTenant(`${tenant}-dns`);
    results.dns = d;
    for (const [server, r] of /** @type {const} */ ([['resolver', d.resolver], ['Unbound', d.unbound]])) {
      if (r.lost) results.warnings.push(`dns: ${r.lost} of ${r.sent} queries to ${server} were lost (no answer within dnsperf's 2 s)`);
      const g = Math.max(0, ...r.roundsGeneratorShare.filter((x) => x !== null));
      if (g >= AT_CEILING) results.warnings.push(`dns: dnsperf used ${g} of a core in a round against ${server}: the generator may have been the limit`);
    }
    const w = d.writeToAnswer;
    if (w.timedOut || w.failedWrites) results.warnings.push(`dns: ${w.timedOut} writes not answered over DNS within 10 s, ${w.failedWrites} PUTs failed`);
    if (d.failover.ms.missed) results.warnings.push(`dns: ${d.failover.ms.missed} failover trials never saw the backup within 30 s`);
    await afterPhase(urls);
  }

  if (only.has('writes')) {
    const connections = settings.writeConnections;
    say(`writes: PUT with ${connections} concurrent clients, ${settings.durationSeconds} s (every PUT a new URL over 200 routes)`);
    await drained(urls.relay);
    const before = await scrape(urls.relay);
    const workerBefore = await scrape(urls.worker);
    const phase = sayPhase(await load({
      url: urls.api,
      connections,
      duration: settings.durationSeconds,
      warmup: 0,
      headers: { ...auth, 'content-type': 'application/json' },
      method: 'PUT',
      path: (i) => `/v1/routes/${tenant}-w/svc-${i % 10}/env-${Math.floor(i / 10) % 20}`,
      body: (i) => JSON.stringify({ url: `https://w${i}-${run}.bench.internal/` }),
    }));
    say('waiting for the relay to publish the writes');
    await drained(urls.relay);
    results.phases.writes = { ...phase, relayPublishMs: publishLatency(before, await scrape(urls.relay)), workerApplyMs: applyLag(workerBefore, await scrapeSettled(urls.worker)) };
    sayHops(results.phases.writes);
    await afterPhase(urls);
  }

  if (only.has('change-sets')) {
    say(`change-sets: POST /v1/changes in sets of 1, 10, 100 and 1,000 routes (4 clients, a tenant each, ${settings.durationSeconds} s each), then 8 writers' PUTs alone and beside ten 1,000-route sets`);
    results.changeSets = await changeSetPhase({ api: urls.api, token, tenant: `${tenant}-cs`, seconds: settings.durationSeconds, say });
    await afterPhase(urls);
  }

  if (only.has('in-sync')) {
    say('in-sync: 200 PUTs one after another, each timed from its answer until GET /v1/revisions/{R} says in sync');
    results.inSync = await inSyncPhase({ api: urls.api, token, tenant: `${tenant}-sync`, writes: 200, say });
    await afterPhase(urls);
  }

  if (only.has('prober-hostile')) {
    const seconds = settings.proberSeconds;
    say(`prober-hostile: an honest tenant (100 endpoints answering at once) and a hostile one (256 endpoints that never answer), probed every second by the stack's two probers; ${seconds} s without the hostile tenant, then ${seconds} s with it`);
    const p = await proberHostile({ api: urls.api, resolver: urls.resolver, probers: proberUrls(process.env), token, tenant, seconds, scrape, shouldStop, say });
    results.proberHostile = p;
    for (const w of proberWarnings(p)) results.warnings.push(`prober-hostile: ${w}`);
    await afterPhase(urls);
  }

  if (only.has('noisy-neighbour')) {
    const { noisySeconds: seconds, noisyRate: rate, noisyWriteRate: writeRate, noisyFloodRate: floodRate, noisyStreams: streams, probeIntervalSeconds: intervalSeconds, threshold } = settings;
    checkFileLimit(streams, 'noisy-neighbour', '--noisy-streams');
    say(
      `noisy-neighbour: tenant B (${rate} resolves/s, ${writeRate} writes/s on its watched stream, failover trials, its endpoints' health) for ${seconds} s alone, then ${seconds} s beside ` +
        `tenant A (256 hanging probed endpoints, ${streams} streams that never read, ${floodRate} resolves/s on one key)`,
    );
    const n = await noisyNeighbour({
      api: urls.api,
      resolver: urls.resolver,
      probers: proberUrls(process.env),
      token,
      tenant: `${tenant}-noisy`,
      seconds,
      rate,
      writeRate,
      floodRate,
      streams,
      quotas: { ...WATCH_QUOTAS, rate: RATE_LIMIT_PER_KEY },
      intervalSeconds,
      threshold,
      logFile: join(rawDir, 'noisy-tenant.log'),
      scrape,
      shouldStop,
      say,
    });
    results.noisyNeighbour = n;
    for (const w of noisyWarnings(n)) results.warnings.push(`noisy-neighbour: ${w}`);
    await afterPhase(urls);
  }

  if (only.has('watch-soak')) {
    const { soakStreams: streams, soakNonReaders: nonReaders, soakTenants: tenantCount, soakRate: rate, soakMinutes: minutes } = settings;
    checkFileLimit(streams, 'watch-soak', '--soak-streams');
    const w = await watchSoak({
      api: urls.api,
      resolver: urls.resolver,
      token,
      tenant: `${tenant}-soak`,
      tenantCount,
      streams,
      nonReaders,
      rate,
      minutes,
      logFile: join(rawDir, 'soak-clients.log'),
      scrape,
      shouldStop,
      say,
    });
    results.watchSoak = w;
    if (w.writes.failed) results.warnings.push(`watch-soak: ${w.writes.failed} PUTs failed (the first: ${w.writes.firstFailure})`);
    if (w.writes.lateStarts) results.warnings.push(`watch-soak: ${w.writes.lateStarts} writes started more than one interval late (the bench could not keep the pace)`);
    if (w.refused) results.warnings.push(`watch-soak: the resolver refused ${w.refused} streams (tm_resolver_watch_streams_refused_total)`);
    await afterPhase(urls);
  }

  if (only.has('replicas')) {
    // A primary and a replica of its own, 10 resolvers and 10,000 streams (tools/bench/replicas.mjs).
    checkFileLimit(10_000, 'replicas', 'the streams');
    results.replicas = await replicasPhase({ resolvers: 10, streams: 10_000, tenants: 100, routesPerTenant: 10, seconds: 2 * settings.durationSeconds, writeRate: 20, readRate: 100 }, { rawDir, say, shouldStop });
    process.stdout.write(`${renderReplicas(results.replicas)}\n`);
  }

  results.machine.loadAverage.after = loadavg();
  results.goals = evaluateGoals(results);
  return { results, rawDir };
}

/**
 * results.{json,md,svg} in the run's raw folder and, for a run of every phase, latest.* beside it.
 * @param {Results} results
 * @param {string} rawDir
 * @param {boolean} complete
 */
function writeResults(results, rawDir, complete) {
  const files = { json: `${JSON.stringify(results, null, 2)}\n`, md: renderMarkdown(results), svg: renderSvg(results) };
  /** @type {string[]} */
  const written = [];
  for (const [ext, content] of Object.entries(files)) {
    writeFileSync(join(rawDir, `results.${ext}`), content);
    if (complete) writeFileSync(join(opts.out, `latest.${ext}`), content);
    written.push(relative(process.cwd(), join(complete ? opts.out : rawDir, `${complete ? 'latest' : 'results'}.${ext}`)));
  }
  // The hit path's flame graph stays with the results (its .cpuprofile, 1 to 2 MB, in the raw folder).
  const flame = join(rawDir, 'hit-path-flame.svg');
  if (complete && existsSync(flame)) {
    writeFileSync(join(opts.out, 'latest-hit-path-flame.svg'), readFileSync(flame));
    written.push(relative(process.cwd(), join(opts.out, 'latest-hit-path-flame.svg')));
  }
  return { markdown: files.md, written };
}

let code = 0;
let outcome;
try {
  outcome = await main();
} catch (e) {
  code = interrupted ? 130 : 1;
  const error = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`bench: ${error instanceof BenchError || error instanceof ToolError || error instanceof WaitError || interrupted ? error.message : error.stack}\n`);
}
await runCleanups();
if (outcome) {
  const complete = PHASES.every((p) => only.has(p));
  const { markdown, written } = writeResults(outcome.results, outcome.rawDir, complete);
  say(`results: ${written.join(', ')}${complete ? ` (a copy in ${relative(process.cwd(), outcome.rawDir)})` : ' (not latest.*: --only ran some phases only)'}`);
  process.stdout.write(`\n${markdown}`);
}
// Nothing the bench started may outlive it: its processes' groups are empty and, when it started
// the stack, no app of this clone runs (nor the Kafka broker, when the stack started it).
await sleep(200);
const needles = managedStack ? [join(repo, 'tools', 'stack', 'start.mjs'), `${join(repo, 'dist', 'apps')}/`] : [];
if (managedStack?.startedKafka()) needles.push(join(repo, '.data', 'kafka', 'server.properties'));
// A spawn that failed has no pid, nor a group.
const groups = new Set(started.flatMap((p) => (p.child.pid === undefined ? [] : groupMembers(p.child.pid))));
const left = processesMatching(needles, groups);
if (left.length) {
  process.stderr.write(`bench: processes the bench started are still running:\n${left.join('\n')}\n`);
  code ||= 1;
} else {
  say(`no process the bench started is left (ps checked for ${started.length} process groups${needles.length ? ' and for the stack of this clone' : ''})`);
}
process.exit(code);
