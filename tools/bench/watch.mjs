// The watch phase of `npm run bench`: delivery latency from a write's answer to the change event at
// each client, with many streams open on one resolver, and the resolver's memory per open stream.
import { join } from 'node:path';
import { processMemory, steadyRate } from './lib.mjs';
import { putRoute } from './phases.mjs';
import { forkClients, sleep } from './processes.mjs';
import { summarizeLatencies } from './report.cjs';

/**
 * Opens `streams` watch streams on the resolver (spread over `tenantCount` tenants, in a process of
 * their own), then writes `writes` routes at `rate` per second across those tenants and records, for
 * every write and every stream of its tenant, the time from the PUT's answer to the event's arrival.
 * @param {{ api: string, resolver: string, token: string, tenant: string, tenantCount: number, streams: number, writes: number, rate: number, logFile: string, scrape: (url: string) => Promise<string>, shouldStop: () => boolean }} options
 */
export async function watchDelivery({ api, resolver, token, tenant, tenantCount, streams, writes, rate, logFile, scrape, shouldStop }) {
  const tenants = Array.from({ length: tenantCount }, (_, i) => `${tenant}-w${i}`);
  // Each tenant exists with one route before its streams open (its snapshot is then one route).
  for (const t of tenants) await putRoute(api, token, `${t}/svc/seed`, 'https://seed.bench.internal/');
  const before = await scrape(resolver);
  const clients = forkClients(join(import.meta.dirname, 'watch-clients.mjs'), ['--resolver', resolver, '--token', token, '--tenants', tenants.join(','), '--streams', String(streams)], logFile);
  try {
    await clients.next((m) => m.ready, 120_000);
    await sleep(1_000);
    const opened = await scrape(resolver);
    const delivered = await timedDeliveries({
      clients,
      rate,
      writes,
      perStream: streams / tenantCount,
      shouldStop,
      write: (i) => putRoute(api, token, `${tenants[i % tenants.length]}/svc/r${i % 20}`, `https://w${i}-${Date.now().toString(36)}.bench.internal/`),
    });
    const [b, o] = [processMemory(before), processMemory(opened)];
    const memory = {
      residentPerStreamBytes: Math.round((o.residentBytes - b.residentBytes) / streams),
      heapPerStreamBytes: Math.round((o.heapBytes - b.heapBytes) / streams),
    };
    return {
      streams,
      tenants: tenantCount,
      ...delivered,
      memory,
    };
  } finally {
    clients.kill();
  }
}

/**
 * The writes of a watch phase and their deliveries: `writes` writes started at a steady `rate` per
 * second (`write(i)` resolves with the write's revision), each answer's time kept; 2 s after the last
 * answer, the clients' process (watch-clients.mjs or etcd-watch-clients.mjs) is asked for its
 * arrivals, and each write is timed to its arrival at every stream that got it.
 * @param {{ clients: import('./processes.mjs').Clients, rate: number, writes: number, perStream: number, shouldStop: () => boolean, write: (i: number) => Promise<number> }} options
 */
export async function timedDeliveries({ clients, rate, writes, perStream, shouldStop, write }) {
  /** @type {Map<number, number>} */
  const answers = new Map();
  let failed = 0;
  /** @type {Promise<void>[]} */
  const inFlight = [];
  const { late } = await steadyRate(rate, (i) => i < writes && !shouldStop(), (i) => {
    inFlight.push(
      write(i).then(
        (revision) => void answers.set(revision, performance.timeOrigin + performance.now()),
        () => void failed++,
      ),
    );
  });
  await Promise.all(inFlight);
  await sleep(2_000);
  clients.send({ collect: true });
  const { arrivals } = await clients.next((m) => m.arrivals, 30_000);
  return { writes: answers.size, failedWrites: failed, ratePerSecond: rate, lateStarts: late, ...deliveryLatencies(answers, arrivals, perStream) };
}

/**
 * From each write's answer (revision -> ms since the epoch) to its arrival at each stream that got it
 * (revision -> [ms since the epoch, ...], as the clients' process sends them): the latencies, and the
 * deliveries missing (each write is owed `perStream` of them).
 * @param {Map<number, number>} answers
 * @param {Record<string, number[]>} arrivals
 * @param {number} perStream
 */
export function deliveryLatencies(answers, arrivals, perStream) {
  /** @type {number[]} */
  const deltas = [];
  let missing = 0;
  for (const [revision, answered] of answers) {
    const got = arrivals[String(revision)] ?? [];
    missing += Math.max(0, perStream - got.length);
    for (const at of got) deltas.push(at - answered);
  }
  return { deliveries: deltas.length, missing, ms: summarizeLatencies(deltas).latencyMs };
}
