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
    const answers = new Map();
    let failed = 0;
    /** @type {Promise<void>[]} */
    const inFlight = [];
    const { late } = await steadyRate(rate, (i) => i < writes && !shouldStop(), (i) => {
      const t = tenants[i % tenants.length];
      inFlight.push(
        putRoute(api, token, `${t}/svc/r${i % 20}`, `https://w${i}-${Date.now().toString(36)}.bench.internal/`).then(
          (revision) => void answers.set(revision, performance.timeOrigin + performance.now()),
          () => void failed++,
        ),
      );
    });
    await Promise.all(inFlight);
    await sleep(2_000);
    clients.send({ collect: true });
    const { arrivals } = await clients.next((m) => m.arrivals, 30_000);
    const perStream = streams / tenantCount;
    const deltas = [];
    let missing = 0;
    for (const [revision, answered] of answers) {
      const got = arrivals[String(revision)] ?? [];
      missing += Math.max(0, perStream - got.length);
      for (const at of got) deltas.push(at - answered);
    }
    deltas.sort((a, b) => a - b);
    const [b, o] = [processMemory(before), processMemory(opened)];
    const memory = {
      residentPerStreamBytes: Math.round((o.residentBytes - b.residentBytes) / streams),
      heapPerStreamBytes: Math.round((o.heapBytes - b.heapBytes) / streams),
    };
    return {
      streams,
      tenants: tenantCount,
      writes: answers.size,
      failedWrites: failed,
      ratePerSecond: rate,
      lateStarts: late,
      deliveries: deltas.length,
      missing,
      ms: summarizeLatencies(deltas).latencyMs,
      memory,
    };
  } finally {
    clients.kill();
  }
}
