// etcd, the bench's peer for reads and for watch delivery: Debian's etcd-server (3.4), started by the
// bench on free ports with its data in a temporary folder, removed when it stops (at the end of its
// phase, on failure and on Ctrl-C: the bench's cleanups). Measured over its JSON gateway:
//   - a serializable range of one key per request (`POST /v3/kv/range`), with wrk, the keys holding
//     the resolver's answers for the bench's routes;
//   - watch delivery: `streams` watches (watch-clients' twin, etcd-watch-clients.mjs, in a process of
//     its own) over as many prefixes as our watch phase has tenants, and writes (`POST /v3/kv/put`) at
//     the same rate, each timed from the put's answer to the event's arrival at every watch of its
//     prefix; etcd's resident memory before and after the watches opened.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call } from './phases.mjs';
import { forkClients, freePort, sleep, spawnLogged, waitFor } from './processes.mjs';
import { timedDeliveries } from './watch.mjs';

/** @typedef {import('./processes.mjs').Logged} Logged */

/** Debian's etcd-server installs it here. */
export const ETCD = '/usr/bin/etcd';

/** @param {string} s */
const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');

/**
 * A process's resident memory in bytes (VmRSS of /proc/<pid>/status); NaN when it cannot be read.
 * @param {number | undefined} pid
 */
export function residentBytes(pid) {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? NaN : Number(kb) * 1024;
  } catch {
    return NaN;
  }
}

/**
 * Starts an etcd of the bench's own; `stop()` ends it and removes its data.
 * @param {{ logFile: string, shouldStop: () => boolean }} options
 */
export async function startEtcd({ logFile, shouldStop }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tm-bench-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const proc = spawnLogged(
    'etcd',
    ETCD,
    [
      '--name', 'bench',
      '--data-dir', dataDir,
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `bench=${peerUrl}`,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-level', 'warn',
    ],
    { env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' }, logFile },
  );
  const stop = async () => {
    await proc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor('etcd to answer /health', async () => JSON.parse((await call(`${url}/health`)).body).health === 'true', { proc, shouldStop, timeoutMs: 30_000 });
  } catch (e) {
    await stop();
    throw e;
  }
  return { proc, url, dataDir, stop };
}

/**
 * `POST /v3/kv/put`: the store's revision after the put.
 * @param {string} url
 * @param {string} key
 * @param {string} value
 */
export async function etcdPut(url, key, value) {
  const res = await call(`${url}/v3/kv/put`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: b64(key), value: b64(value) }) });
  if (res.status !== 200) throw new Error(`etcd put ${key}: ${res.status} ${res.body.slice(0, 200)}`);
  return Number(JSON.parse(res.body).header.revision);
}

/**
 * The range requests wrk cycles: one key each, serializable (answered by the member from its own
 * store, as our resolver answers from its cache).
 * @param {string[]} keys
 */
export function rangeRequests(keys) {
  return keys.map((key) => ({ method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64(key), serializable: true }) }));
}

/**
 * etcd's watch delivery: `streams` watches over `prefixCount` prefixes, `writes` puts at `rate` per
 * second across them, each timed from its answer to its event at every watch of its prefix.
 * @param {{ etcd: { url: string, proc: Logged }, prefix: string, prefixCount: number, streams: number, writes: number, rate: number, logFile: string, shouldStop: () => boolean }} options
 */
export async function etcdWatchDelivery({ etcd, prefix, prefixCount, streams, writes, rate, logFile, shouldStop }) {
  const prefixes = Array.from({ length: prefixCount }, (_, i) => `${prefix}/w${i}/`);
  for (const p of prefixes) await etcdPut(etcd.url, `${p}seed`, '{"url":"https://seed.bench.internal/"}');
  const pid = etcd.proc.child.pid;
  const before = residentBytes(pid);
  const clients = forkClients(join(import.meta.dirname, 'etcd-watch-clients.mjs'), ['--url', etcd.url, '--prefixes', prefixes.join(','), '--streams', String(streams)], logFile);
  try {
    await clients.next((m) => m.ready, 120_000);
    await sleep(1_000);
    const opened = residentBytes(pid);
    const delivered = await timedDeliveries({
      clients,
      rate,
      writes,
      perStream: streams / prefixCount,
      shouldStop,
      write: (i) => etcdPut(etcd.url, `${prefixes[i % prefixes.length]}r${i % 20}`, JSON.stringify({ url: `https://w${i}-${Date.now().toString(36)}.bench.internal/` })),
    });
    return {
      streams,
      prefixes: prefixCount,
      ...delivered,
      memory: { beforeBytes: before, openedBytes: opened, residentPerStreamBytes: Math.round((opened - before) / streams) },
    };
  } finally {
    clients.kill();
  }
}
