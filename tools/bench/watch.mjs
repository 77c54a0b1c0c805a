// The watch phase of `npm run bench`: delivery latency from a write's answer to the change event at
// each client, with many streams open on one resolver, and the resolver's memory per open stream.
import { fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { putRoute } from './phases.mjs';
import { sleep } from './processes.mjs';
import { summarizeLatencies } from './report.cjs';

const resident = (text) => Number(/^tm_process_resident_memory_bytes(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? NaN);
const heap = (text) => Number(/^tm_nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? NaN);

/**
 * Opens `streams` watch streams on the resolver (spread over `tenantCount` tenants, in a process of
 * their own), then writes `writes` routes at `rate` per second across those tenants and records, for
 * every write and every stream of its tenant, the time from the PUT's answer to the event's arrival.
 */
export async function watchDelivery({ api, resolver, token, tenant, tenantCount, streams, writes, rate, logFile, scrape, shouldStop }) {
  const tenants = Array.from({ length: tenantCount }, (_, i) => `${tenant}-w${i}`);
  // Each tenant exists with one route before its streams open (its snapshot is then one route).
  for (const t of tenants) await putRoute(api, token, `${t}/svc/seed`, 'https://seed.bench.internal/');
  const before = await scrape(resolver);
  const fd = openSync(logFile, 'a');
  const child = fork(join(import.meta.dirname, 'watch-clients.mjs'), ['--resolver', resolver, '--token', token, '--tenants', tenants.join(','), '--streams', String(streams)], {
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  const messages = [];
  let wake;
  child.on('message', (m) => {
    messages.push(m);
    wake?.();
  });
  const next = async (test, timeoutMs) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = messages.find(test);
      if (found) return found;
      const error = messages.find((m) => m.error);
      if (error) throw new Error(error.error);
      if (child.exitCode !== null) throw new Error(`the watch clients exited (${child.exitCode})`);
      if (performance.now() > deadline) throw new Error('the watch clients did not answer in time');
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 200);
      });
    }
  };
  try {
    await next((m) => m.ready, 120_000);
    await sleep(1_000);
    const opened = await scrape(resolver);
    const answers = new Map();
    const started = performance.now();
    let late = 0;
    let failed = 0;
    const inFlight = [];
    for (let i = 0; i < writes && !shouldStop(); i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -1000 / rate) late++;
      const t = tenants[i % tenants.length];
      inFlight.push(
        putRoute(api, token, `${t}/svc/r${i % 20}`, `https://w${i}-${Date.now().toString(36)}.bench.internal/`).then(
          (revision) => void answers.set(revision, performance.timeOrigin + performance.now()),
          () => void failed++,
        ),
      );
    }
    await Promise.all(inFlight);
    await sleep(2_000);
    child.send({ collect: true });
    const { arrivals } = await next((m) => m.arrivals, 30_000);
    const perStream = streams / tenantCount;
    const deltas = [];
    let missing = 0;
    for (const [revision, answered] of answers) {
      const got = arrivals[String(revision)] ?? [];
      missing += Math.max(0, perStream - got.length);
      for (const at of got) deltas.push(at - answered);
    }
    deltas.sort((a, b) => a - b);
    const memory = {
      residentPerStreamBytes: Math.round((resident(opened) - resident(before)) / streams),
      heapPerStreamBytes: Math.round((heap(opened) - heap(before)) / streams),
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
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
