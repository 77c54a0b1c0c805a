import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { migrations, runMigrations } from '@tm/migrations';
import { freePort } from './processes';

/** Where Debian and Ubuntu put PostgreSQL 15's server binaries (PG_BIN overrides). */
const PG_BIN = process.env['PG_BIN'] ?? '/usr/lib/postgresql/15/bin';
/** The database the cluster's tests use (migrated at start). */
const DATABASE = 'traffic_manager';

/** The servers every ReplicatedPostgres of this process started: stopped at exit even if a test did not. */
const running = new Set<string>();
/** Their folders, removed at exit too. */
const folders = new Set<string>();
let exitHookInstalled = false;

/**
 * A PostgreSQL primary and one streaming replica of a test's own, on free ports, in a temporary
 * folder (docs/development.md, "Replication tests"): `initdb` (wal_level=replica, the default
 * pg_hba of initdb --auth=trust allows replication from 127.0.0.1), `pg_basebackup -R` for the
 * replica, both started with `pg_ctl`. `initdb` and `postgres` refuse root: as root they run as the
 * `postgres` user through `runuser`. The shared server on 5432 allows no replication connections,
 * which is why this exists; only tests that need replication use it (it costs seconds).
 */
export class ReplicatedPostgres {
  private constructor(
    private readonly dir: string,
    readonly primaryPort: number,
    readonly replicaPort: number,
  ) {}

  /** The primary's URL (the migrated database). */
  get primaryUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.primaryPort}/${DATABASE}`;
  }

  /** The replica's URL (the same database, read-only). */
  get replicaUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.replicaPort}/${DATABASE}`;
  }

  private get primaryDir(): string {
    return join(this.dir, 'primary');
  }

  private get replicaDir(): string {
    return join(this.dir, 'replica');
  }

  static async start(): Promise<ReplicatedPostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'tm-replication-'));
    const owner = postgresUser();
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const cluster = new ReplicatedPostgres(dir, await freePort(), await freePort());
    folders.add(dir);
    installExitHook();
    try {
      pg('initdb', ['-D', cluster.primaryDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
      cluster.startServer(cluster.primaryDir, cluster.primaryPort);
      await waitForServer(cluster.primaryPort);
      await withClient(`postgres://postgres@127.0.0.1:${cluster.primaryPort}/postgres`, (c) => c.query(`CREATE DATABASE ${DATABASE}`));
      await runMigrations(cluster.primaryUrl, migrations);
      pg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(cluster.primaryPort), '-U', 'postgres', '-D', cluster.replicaDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
      cluster.startServer(cluster.replicaDir, cluster.replicaPort);
      await waitForServer(cluster.replicaPort);
      return cluster;
    } catch (e) {
      await cluster.stop();
      throw e;
    }
  }

  private startServer(dataDir: string, port: number): void {
    const options = [
      `-p ${port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${this.dir}`,
      '-c wal_level=replica',
      '-c max_wal_senders=5',
      '-c hot_standby=on',
      '-c fsync=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
      // A read on the replica is never cancelled by replay of a vacuum (tests read while writing).
      '-c max_standby_streaming_delay=-1',
    ].join(' ');
    pg('pg_ctl', ['-D', dataDir, '-o', options, '-l', join(dataDir, 'server.log'), '-W', 'start']);
    running.add(dataDir);
  }

  /** Stops the replica at once (SIGQUIT: a crash, connections drop). */
  killReplica(): void {
    stopServer(this.replicaDir, 'immediate');
  }

  /** Starts the replica again (it resumes streaming from where it stopped). */
  async startReplica(): Promise<void> {
    this.startServer(this.replicaDir, this.replicaPort);
    await waitForServer(this.replicaPort);
  }

  /** `pg_wal_replay_pause()` on the replica: it stays up and answers, frozen at what it replayed. */
  pauseReplay(): Promise<void> {
    return withClient(this.replicaUrl, async (c) => {
      await c.query('SELECT pg_wal_replay_pause()');
      // The request takes effect at the startup process's next check: wait until it says paused.
      const deadline = Date.now() + 10_000;
      while ((await c.query<{ state: string }>('SELECT pg_get_wal_replay_pause_state() AS state')).rows[0]?.state !== 'paused') {
        if (Date.now() > deadline) throw new Error('the replica did not pause its replay');
        await new Promise((r) => setTimeout(r, 10));
      }
    });
  }

  resumeReplay(): Promise<void> {
    return withClient(this.replicaUrl, async (c) => void (await c.query('SELECT pg_wal_replay_resume()')));
  }

  /** Waits until the replica has replayed the primary's current WAL position (a write is visible there). */
  async caughtUp(timeoutMs = 10_000): Promise<void> {
    const lsn = await withClient(this.primaryUrl, async (c) => (await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const done = await withClient(
        this.replicaUrl,
        async (c) => (await c.query<{ done: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [lsn])).rows[0]?.done === true,
      );
      if (done) return;
      if (Date.now() > deadline) throw new Error(`the replica did not replay ${lsn} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops both servers and removes the folder. */
  async stop(): Promise<void> {
    stopServer(this.replicaDir, 'immediate');
    stopServer(this.primaryDir, 'immediate');
    rmSync(this.dir, { recursive: true, force: true });
    folders.delete(this.dir);
    await Promise.resolve();
  }
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0) throw new Error('initdb and postgres refuse root, and there is no postgres user to run them as');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Runs one of PostgreSQL's programs (as the postgres user when this process is root); throws with its output on failure. */
function pg(program: string, args: string[]): void {
  const binary = join(PG_BIN, program);
  const [command, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
  const result = spawnSync(command, argv, { encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw new Error(`${program}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${program} failed (${result.status}): ${(result.stderr || result.stdout).trim()}`);
}

function stopServer(dataDir: string, mode: 'fast' | 'immediate'): void {
  if (!running.delete(dataDir)) return;
  try {
    pg('pg_ctl', ['-D', dataDir, '-m', mode, '-w', 'stop']);
  } catch {
    // Already stopped.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const dataDir of [...running]) stopServer(dataDir, 'immediate');
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
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

/** Waits until a server accepts queries (a replica once it reached consistency). */
async function waitForServer(port: number): Promise<void> {
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
