// What `npm start` and `npm test` share: dependencies installed, and PostgreSQL, Redis and Kafka
// reachable. Plain Node with no packages, so that it runs before `npm ci` has.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dataDir = join(repo, '.data');
const kafkaScript = join(repo, 'tools', 'kafka', 'kafka');

/** A one-line failure: what is wrong and how to fix it. */
export class SetupError extends Error {}

export function say(line) {
  process.stdout.write(`[tm] ${line}\n`);
}

export function hasCommand(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a command to its end with inherited output; throws SetupError when it fails. */
export function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: repo, stdio: 'inherit', ...options });
  if (result.error) throw new SetupError(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new SetupError(`${[command, ...args].join(' ')} failed (exit ${result.status ?? result.signal})`);
}

/** `npm ci` when node_modules is missing or older than the lockfile. */
export function ensureDependencies() {
  const marker = join(repo, 'node_modules', '.package-lock.json');
  const lock = join(repo, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  say('installing dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

/** The project's own packages, once installed. */
export function projectRequire(name) {
  return createRequire(join(repo, 'package.json'))(name);
}

export function tcpOpen(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function hostPort(url, defaultPort) {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || defaultPort) };
}

/**
 * PostgreSQL: DATABASE_URL when set, else the server on 127.0.0.1:5432 with a database
 * `database` created if missing. Returns the URL the apps get.
 */
export async function ensurePostgres(env, database) {
  const given = env.DATABASE_URL;
  const url = given ?? `postgres://${env.PGUSER ?? 'postgres'}@127.0.0.1:5432/${database}`;
  const { host, port } = hostPort(url, 5432);
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
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1)) || database;
  const adminUrl = new URL(url);
  adminUrl.pathname = '/postgres';
  const admin = new Client({ connectionString: adminUrl.toString(), connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (e) {
    throw new SetupError(`PostgreSQL at ${host}:${port} refused the connection: ${e.message}`);
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
 */
export async function ensureRedis(env) {
  const url = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const { host, port } = hostPort(url, 6379);
  if (await redisPing(host, port)) return { url, stop: async () => undefined };
  if (env.REDIS_URL) throw new SetupError(`Redis is not reachable at ${host}:${port} (REDIS_URL); start it or fix the URL`);
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
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    },
  };
}

function kafka(command, env = {}) {
  const result = spawnSync('bash', [kafkaScript, command], {
    cwd: repo,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  return { status: result.status, out: (result.stdout ?? '').trim() };
}

/**
 * Kafka: KAFKA_BROKERS when set and reachable; else the project's broker (tools/kafka/kafka),
 * reused when it already runs, started (and later stopped) otherwise. Returns { brokers, stop }.
 */
export async function ensureKafka(env) {
  if (env.KAFKA_BROKERS) {
    const [first] = env.KAFKA_BROKERS.split(',');
    const [host, port] = first.trim().split(':');
    if (await tcpOpen(host, Number(port))) return { brokers: env.KAFKA_BROKERS, stop: async () => undefined };
    say(`KAFKA_BROKERS (${env.KAFKA_BROKERS}) does not answer; using the project's own broker`);
  }
  const status = kafka('status');
  if (status.status === 0) {
    return { brokers: status.out.replace(/^running /, ''), stop: async () => undefined, reused: true };
  }
  say('starting Apache Kafka (KRaft, single node) with tools/kafka/kafka');
  const started = kafka('start');
  if (started.status !== 0) throw new SetupError('Kafka did not start (the line above says why)');
  return {
    brokers: started.out.split('\n').pop(),
    started: true,
    stop: async () => {
      kafka('stop');
    },
  };
}

export function ensureDataDir() {
  mkdirSync(dataDir, { recursive: true });
}

export function readIfExists(file) {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}
