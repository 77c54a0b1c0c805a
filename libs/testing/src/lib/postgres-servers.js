// @ts-check
// PostgreSQL servers of a test's or the bench's own, from the machine's binaries: plain JavaScript
// (CommonJS) so that the TypeScript harness (replicated-postgres.ts, with postgres-servers.d.ts) and
// the bench's .mjs (tools/bench/replicas.mjs) run the same steps. `initdb` and `postgres` refuse
// root: as root they run as the `postgres` user through `runuser`.
const { spawnSync } = require('node:child_process');
const { chownSync, mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { Client } = require('pg');

/** Where Debian and Ubuntu put PostgreSQL 15's server binaries (PG_BIN overrides). */
const PG_BIN = process.env['PG_BIN'] ?? '/usr/lib/postgresql/15/bin';

/** Data folders of the servers this process started (stopped at exit even if a caller did not), and their parents. */
const running = new Set();
const folders = new Set();
let exitHookInstalled = false;

/** @returns {{ uid: number, gid: number } | undefined} */
function postgresUser() {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0) throw new Error('initdb and postgres refuse root, and there is no postgres user to run them as');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * Runs one of PostgreSQL's programs (as the postgres user when this process is root); throws with its output on failure.
 * @param {string} program
 * @param {string[]} args
 */
function pg(program, args) {
  const binary = join(PG_BIN, program);
  const [command, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
  const result = spawnSync(command, argv, { encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw new Error(`${program}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${program} failed (${result.status}): ${(result.stderr || result.stdout).trim()}`);
}

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const dataDir of [...running]) stopServer(dataDir, 'immediate');
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });
}

/** A temporary folder the postgres user owns, removed at exit if removeFolder was not called. */
function makeFolder() {
  const dir = mkdtempSync(join(tmpdir(), 'tm-replication-'));
  const owner = postgresUser();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  folders.add(dir);
  installExitHook();
  return dir;
}

/** @param {string} dir */
function removeFolder(dir) {
  rmSync(dir, { recursive: true, force: true });
  folders.delete(dir);
}

/**
 * A new cluster in `dataDir` (trust authentication; initdb's pg_hba allows replication from 127.0.0.1).
 * @param {string} dataDir
 */
function initdb(dataDir) {
  pg('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
}

/**
 * A streaming replica of the primary on `primaryPort` in `dataDir` (`-R`: standby.signal and primary_conninfo).
 * @param {number} primaryPort
 * @param {string} dataDir
 */
function basebackup(primaryPort, dataDir) {
  pg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
}

/**
 * Starts the server of `dataDir` on `port` (a primary or, with standby.signal, a replica) and waits until it answers.
 * @param {string} dataDir
 * @param {number} port
 * @param {string} socketDir
 */
async function startServer(dataDir, port, socketDir) {
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${socketDir}`,
    '-c wal_level=replica',
    '-c max_wal_senders=5',
    '-c hot_standby=on',
    '-c fsync=off',
    '-c full_page_writes=off',
    '-c max_connections=400',
    // A read on the replica is never cancelled by replay of a vacuum (reads run while writing).
    '-c max_standby_streaming_delay=-1',
  ].join(' ');
  pg('pg_ctl', ['-D', dataDir, '-o', options, '-l', join(dataDir, 'server.log'), '-W', 'start']);
  running.add(dataDir);
  installExitHook();
  await waitForServer(port);
}

/**
 * Stops the server of `dataDir` (immediate: a crash, connections drop); nothing if it is not running.
 * @param {string} dataDir
 * @param {'fast' | 'immediate'} mode
 */
function stopServer(dataDir, mode) {
  if (!running.delete(dataDir)) return;
  try {
    pg('pg_ctl', ['-D', dataDir, '-m', mode, '-w', 'stop']);
  } catch {
    // Already stopped.
  }
}

/**
 * One client's work against `url`.
 * @template T
 * @param {string} url
 * @param {(client: import('pg').Client) => Promise<T>} work
 * @returns {Promise<T>}
 */
async function withClient(url, work) {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  // A server that stops under the client (a replica starting, or killed) ends it; the query says so.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Waits until a server accepts queries (a replica once it reached consistency).
 * @param {number} port
 */
async function waitForServer(port) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await withClient(`postgres://postgres@127.0.0.1:${port}/postgres`, (c) => c.query('SELECT 1'));
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL on port ${port} did not start: ${e instanceof Error ? e.message : String(e)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

module.exports = { makeFolder, removeFolder, initdb, basebackup, startServer, stopServer, withClient };
