// The bench's load generator for every read phase that compares servers: Debian's wrk, in a process
// of its own (one thread, closed loop), so that the generator does not share the bench's event loop
// nor, above all, take a share of the machine nobody sees. Its CPU time over the run is recorded
// (/proc/self/stat, read by the script when the run ends) and shown beside each figure.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { summarizeWrk } from './report.cjs';

/** @typedef {import('./report.cjs').Json} Json */
/** @typedef {{ method?: string, path: string, body?: string, authorization?: string }} WrkRequest */
/** @typedef {ReturnType<typeof summarizeWrk>} WrkResult */

/** Debian's wrk (the bench installs it when missing: tools/stack/debian.mjs). */
export const WRK = '/usr/bin/wrk';
const SCRIPT = join(import.meta.dirname, 'wrk.lua');

/** Clock ticks per second (the unit of /proc/<pid>/stat's times). */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * A process's CPU time so far (user and system, its threads included), in seconds; NaN once it is gone.
 * @param {number | undefined} pid
 */
export function processCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of the file (utime, stime); the slice starts at field 3.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * The wrk run in progress, so that Ctrl-C can stop it.
 * @type {import('node:child_process').ChildProcess | undefined}
 */
let current;
export function stopWrk() {
  current?.kill('SIGINT');
}

/**
 * One wrk run: resolves with the script's JSON, or rejects with wrk's own words.
 * @param {string[]} args
 * @param {string} requestsFile
 */
function runWrk(args, requestsFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(WRK, args, { env: { ...process.env, BENCH_WRK_REQUESTS: requestsFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (current === child) current = undefined;
      const line = out.split('\n').find((l) => l.startsWith('BENCH_WRK_JSON '));
      if (!line) return reject(new Error(`wrk ${args.join(' ')} exited ${code}: ${(err || out).trim().split('\n').slice(-3).join(' / ')}`));
      resolve(/** @type {Json} */ (JSON.parse(line.slice('BENCH_WRK_JSON '.length))));
    });
  });
}

/**
 * Closed-loop load with wrk (`-t1`, `connections` connections): a warm-up run of `warmup` seconds
 * that is not counted, then the measured run of `duration` seconds, cycling `requests` in order with
 * `headers` on each. `serverCpu()`, when given, reads the server's CPU seconds so far: read before
 * and after the measured run, it gives the server's share of a core beside the generator's.
 * @param {{ url: string, connections: number, duration: number, warmup: number, headers: Record<string, string>, requests: WrkRequest[], requestsFile: string, serverCpu?: () => Promise<number> | number }} options
 */
export async function wrkLoad({ url, connections, duration, warmup, headers, requests, requestsFile, serverCpu }) {
  const line = (/** @type {WrkRequest} */ r) => [r.method ?? 'GET', r.path, r.body ?? '', r.authorization ?? ''].join('\t').replace(/\t+$/, '');
  writeFileSync(requestsFile, requests.map(line).join('\n') + '\n');
  const base = ['-t1', `-c${connections}`, '--timeout', '10s', '-s', SCRIPT, ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`])];
  if (warmup > 0) await runWrk([...base, `-d${warmup}s`, url], requestsFile);
  const before = serverCpu ? await serverCpu() : NaN;
  const raw = await runWrk([...base, `-d${duration}s`, url], requestsFile);
  const after = serverCpu ? await serverCpu() : NaN;
  return summarizeWrk(raw, { connections, clockTicks: CLOCK_TICKS, serverCpuSeconds: after - before });
}
