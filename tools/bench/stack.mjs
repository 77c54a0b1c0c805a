// The stack the bench measures: one it starts (tools/stack/start.mjs, what `npm start` runs, in a
// process group of its own, its output in a log file) or one already running (--attach).
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { httpOk, spawnLogged, waitFor } from './processes.mjs';

/** The apps and the two health probers `npm start` runs once the others are up (tools/stack/deployables.json). */
import { APPS, PROBERS } from '../stack/deployables.mjs';

export { APPS, PROBERS };

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {{ portVar: string, port: number }} app
 */
const appUrl = (env, app) => `http://127.0.0.1:${Number(env[app.portVar] || app.port)}`;

/**
 * The apps' base URLs from the same variables `npm start` reads.
 * @param {NodeJS.ProcessEnv} env
 */
export function appUrls(env) {
  const [api, resolver, relay, worker] = APPS.map((app) => appUrl(env, app));
  return { api, resolver, relay, worker };
}

/**
 * The probers' base URLs (health and metrics), from the same variables.
 * @param {NodeJS.ProcessEnv} env
 */
export function proberUrls(env) {
  return PROBERS.map((app) => appUrl(env, app));
}

/**
 * The resolver's DNS port, from the variable `npm start` reads (RESOLVER_DNS_PORT; 0: DNS off).
 * @param {NodeJS.ProcessEnv} env
 */
export function dnsPortOf(env) {
  const dns = APPS.find((app) => app.dns)?.dns;
  if (!dns) return 0;
  const value = env[dns.portVar];
  return Number(value === undefined || value === '' ? dns.port : value);
}

/** @param {Record<string, string>} urls */
export async function stackReady(urls) {
  const answers = await Promise.all(Object.values(urls).map((u) => httpOk(`${u}/health/ready`).catch(() => false)));
  return answers.every(Boolean);
}

/**
 * Prints the lines of a growing log file that `wanted` picks, as they come.
 * @param {string} file
 * @param {(line: string) => boolean} wanted
 * @param {(line: string) => void} print
 */
function follow(file, wanted, print) {
  let offset = 0;
  let rest = '';
  const read = () => {
    let size;
    try {
      size = statSync(file).size;
    } catch {
      return;
    }
    if (size <= offset) return;
    const fd = openSync(file, 'r');
    const buffer = Buffer.alloc(size - offset);
    readSync(fd, buffer, 0, buffer.length, offset);
    closeSync(fd);
    offset = size;
    const lines = (rest + buffer.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (wanted(l)) print(l);
  };
  const timer = setInterval(read, 300);
  return () => {
    clearInterval(timer);
    read();
  };
}

/**
 * Starts the stack; `ready()` waits until every app answers /health/ready. `stop()` sends it SIGTERM
 * (it stops the apps, then the Kafka and Redis it started) and waits; past `graceMs` it kills the
 * group and stops a Kafka broker the stack had started.
 * @param {{ repo: string, env: NodeJS.ProcessEnv, logFile: string, print: (line: string) => void }} options
 */
export function startStack({ repo, env, logFile, print }) {
  const proc = spawnLogged('the stack (tools/stack/start.mjs)', process.execPath, [join(repo, 'tools', 'stack', 'start.mjs')], {
    cwd: repo,
    env,
    logFile,
  });
  const urls = appUrls(env);
  // start.mjs's own lines ("[tm] ...") and its one-line failures; the apps' JSON lines stay in the log.
  const unfollow = follow(logFile, (l) => l.startsWith('[tm]') || l.startsWith('npm start:') || l.startsWith('kafka:'), print);
  return {
    proc,
    urls,
    /**
     * The first start builds the apps and may fetch Kafka's jars: minutes, not seconds.
     * @param {() => boolean} shouldStop
     */
    ready(shouldStop) {
      return waitFor('the stack to be ready', () => stackReady(urls), { timeoutMs: 20 * 60_000, intervalMs: 500, proc, shouldStop });
    },
    /** Whether the stack started a Kafka broker (rather than reusing one). */
    startedKafka: () => spawnSync('grep', ['-q', 'starting Apache Kafka', logFile]).status === 0,
    async stop(graceMs = 120_000) {
      await proc.stop(graceMs);
      unfollow();
      // start.mjs stops the broker it started; only a start.mjs killed at the end of the grace leaves it.
      const kafka = join(repo, 'tools', 'kafka', 'kafka');
      if (this.startedKafka() && spawnSync('bash', [kafka, 'status'], { cwd: repo }).status === 0) {
        print('[bench] stopping the Kafka broker the stack had started');
        spawnSync('bash', [kafka, 'stop'], { cwd: repo, stdio: 'inherit' });
      }
    },
  };
}
