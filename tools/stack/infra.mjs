// What `npm start` and `npm test` share: dependencies installed, and PostgreSQL, Redis and Kafka
// reachable. Plain Node with no packages, so that it runs before `npm ci` has.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dataDir = join(repo, '.data');
const kafkaScript = join(repo, 'tools', 'kafka', 'kafka');

/** A one-line failure: what is wrong and how to fix it. */
export class SetupError extends Error {}

/** @param {string} line */
export function say(line) {
  process.stdout.write(`[tm] ${line}\n`);
}

/** @param {string} name */
export function hasCommand(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs a command to its end with inherited output; rejects with SetupError when it fails.
 * @param {string} command
 * @param {string[]} args
 * @param {import('node:child_process').SpawnOptions} [options]
 * @returns {Promise<void>}
 */
export function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    // A process group of its own, so that a stop reaches what it started too (npx runs nx as a child).
    const child = spawn(command, args, { cwd: repo, stdio: 'inherit', detached: true, ...options });
    running.add(child);
    child.once('error', (e) => reject(new SetupError(`${command} could not run: ${e.message}`)));
    child.once('exit', (code, signal) => {
      running.delete(child);
      if (code === 0) resolve();
      else reject(new SetupError(`${[command, ...args].join(' ')} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/** Commands that `run` started and that have not exited yet. */
const running = new Set();

/** Stops what `run` started (a build, a migration, a test run) and waits for it: a stop must not leave it behind. */
export function stopRunning() {
  return Promise.all(
    [...running].map(
      (child) =>
        /** @type {Promise<void>} */ (
          new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            /** @param {NodeJS.Signals} signal */
            const signalGroup = (signal) => {
              try {
                process.kill(-child.pid, signal);
              } catch {
                // already gone
              }
            };
            const timer = setTimeout(() => signalGroup('SIGKILL'), 10_000);
            child.once('exit', () => (clearTimeout(timer), resolve()));
            signalGroup('SIGTERM');
          })
        ),
    ),
  );
}

/**
 * An environment variable, with an empty value counted as unset (as the apps count it).
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 */
export function envValue(env, name) {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * A URL with its password replaced, for printing.
 * @param {string} url
 */
export function masked(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * @param {string} url
 * @param {string} variable
 * @param {string} example
 */
function parseUrl(url, variable, example) {
  try {
    return new URL(url);
  } catch {
    throw new SetupError(`${variable} is not a URL; expected something like ${example}`);
  }
}

/** `npm ci` when node_modules is missing or older than the lockfile. */
export async function ensureDependencies() {
  const marker = join(repo, 'node_modules', '.package-lock.json');
  const lock = join(repo, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  say('installing dependencies (npm ci)');
  await run('npm', ['ci', '--no-audit', '--no-fund']);
}

/**
 * The project's own packages, once installed.
 * @param {string} name
 */
export function projectRequire(name) {
  return createRequire(join(repo, 'package.json'))(name);
}

/**
 * @param {string} host
 * @param {number} port
 * @param {number} [timeoutMs]
 * @returns {Promise<boolean>}
 */
export function tcpOpen(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    /** @param {boolean} ok */
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * @param {URL} u
 * @param {number | string} defaultPort
 */
function hostPort(u, defaultPort) {
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || defaultPort) };
}

/**
 * PostgreSQL: DATABASE_URL when set, else the server on 127.0.0.1:5432 with a database
 * `database` created if missing. Returns the URL the apps get.
 * @param {NodeJS.ProcessEnv} env
 * @param {string} database
 */
export async function ensurePostgres(env, database) {
  const given = envValue(env, 'DATABASE_URL');
  const url = given ?? `postgres://${envValue(env, 'PGUSER') ?? 'postgres'}@127.0.0.1:5432/${database}`;
  const parsed = parseUrl(url, 'DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/traffic_manager');
  if (!['postgres:', 'postgresql:'].includes(parsed.protocol)) throw new SetupError('DATABASE_URL must be a postgres:// URL');
  const { host, port } = hostPort(parsed, 5432);
  if (!(await tcpOpen(host, port))) {
    if (given) throw new SetupError(`PostgreSQL is not reachable at ${host}:${port} (DATABASE_URL); start it or fix the URL`);
    const installed = hasCommand('pg_ctlcluster') || hasCommand('postgres') || hasCommand('pg_ctl');
    throw new SetupError(
      installed
        ? 'PostgreSQL is not running on 127.0.0.1:5432; start it (e.g. pg_ctlcluster --skip-systemctl-redirect 15 main start) or set DATABASE_URL'
        : 'PostgreSQL is not installed; install it with "apt-get install -y postgresql" or set DATABASE_URL to a server',
    );
  }
  const { Client } = projectRequire('pg');
  const name = decodeURIComponent(parsed.pathname.slice(1)) || database;
  const adminUrl = new URL(url);
  adminUrl.pathname = '/postgres';
  const admin = new Client({ connectionString: adminUrl.toString(), connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (e) {
    throw new SetupError(`PostgreSQL at ${host}:${port} refused the connection: ${e instanceof Error ? e.message : e}`);
  }
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      say(`creating database ${name}`);
      await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    }
  } finally {
    await admin.end();
  }
  return url;
}

/**
 * @param {string} host
 * @param {number} port
 */
function redisPing(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let answer = '';
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('\r\n')) {
        socket.destroy();
        resolve(answer.startsWith('+PONG') || answer.startsWith('-NOAUTH'));
      }
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Redis: REDIS_URL when set, else 127.0.0.1:6379; when nothing answers there and redis-server is
 * installed, a Redis of the project's own (no persistence), stopped with the stack.
 * Returns { url, stop }.
 * @param {NodeJS.ProcessEnv} env
 */
export async function ensureRedis(env) {
  const given = envValue(env, 'REDIS_URL');
  const url = given ?? 'redis://127.0.0.1:6379';
  const parsed = parseUrl(url, 'REDIS_URL', 'redis://127.0.0.1:6379');
  if (!['redis:', 'rediss:'].includes(parsed.protocol)) throw new SetupError('REDIS_URL must be a redis:// or rediss:// URL');
  const { host, port } = hostPort(parsed, 6379);
  if (await redisPing(host, port)) return { url, stop: async () => undefined };
  if (given) throw new SetupError(`Redis is not reachable at ${host}:${port} (REDIS_URL); start it or fix the URL`);
  if (!hasCommand('redis-server')) {
    throw new SetupError('Redis is not running on 127.0.0.1:6379 and not installed; install it with "apt-get install -y redis-server" or set REDIS_URL');
  }
  if (await tcpOpen(host, port)) throw new SetupError(`something that is not Redis listens on ${host}:${port}; set REDIS_URL`);
  say('starting a Redis of our own on 127.0.0.1:6379 (nothing answered there)');
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
    detached: true,
  });
  for (let i = 0; i < 50 && !(await redisPing(host, port)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await redisPing(host, port))) throw new SetupError('redis-server did not start on 127.0.0.1:6379');
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    },
  };
}

/** @param {string} command */
function kafka(command) {
  return new Promise((resolve) => {
    const child = spawn('bash', [kafkaScript, command], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    // 'close', not 'exit': the output may still be on its way when the script has exited.
    child.once('close', (status) => resolve({ status, out: out.trim() }));
  });
}

/**
 * Kafka: KAFKA_BROKERS when set and reachable; else the project's broker (tools/kafka/kafka),
 * reused when it already runs, started otherwise. `onStart` is called before a start begins, so
 * that an interrupted start is stopped too. Returns { brokers, started }.
 * @param {NodeJS.ProcessEnv} env
 * @param {(stop: () => Promise<void>) => void} onStart
 */
export async function ensureKafka(env, onStart) {
  const given = envValue(env, 'KAFKA_BROKERS');
  if (given) {
    const first = given.split(',')[0].trim();
    const match = /^(.+):(\d{1,5})$/.exec(first);
    if (!match) throw new SetupError('KAFKA_BROKERS must be a comma-separated list of host:port');
    if (await tcpOpen(match[1], Number(match[2]))) return { brokers: given, started: false };
    say(`KAFKA_BROKERS (${given}) does not answer; using the project's own broker`);
  }
  const status = await kafka('status');
  if (status.status === 0) return { brokers: status.out.replace(/^running /, ''), started: false };
  say('starting Apache Kafka (KRaft, single node) with tools/kafka/kafka');
  onStart(async () => {
    await kafka('stop');
  });
  const started = await kafka('start');
  if (started.status !== 0) throw new SetupError('Kafka did not start (see the kafka: line above)');
  return { brokers: started.out.split('\n').pop(), started: true };
}

export function ensureDataDir() {
  mkdirSync(dataDir, { recursive: true });
}
