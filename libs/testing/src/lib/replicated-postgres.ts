import { join } from 'node:path';
import { migrations, runMigrations } from '@tm/migrations';
import { freePort } from './processes';
import { basebackup, initdb, makeFolder, removeFolder, startServer, stopServer, withClient } from './postgres-servers';

/** The database the cluster's tests use (migrated at start). */
const DATABASE = 'traffic_manager';

/**
 * A PostgreSQL primary and one streaming replica of a test's own, on free ports, in a temporary
 * folder (docs/development.md, "Replication tests"): `initdb` (wal_level=replica, the default
 * pg_hba of initdb --auth=trust allows replication from 127.0.0.1), `pg_basebackup -R` for the
 * replica, both started with `pg_ctl` (postgres-servers.js, which the bench shares). The shared
 * server on 5432 allows no replication connections, which is why this exists; only tests that need
 * replication use it (it costs seconds).
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
    const cluster = new ReplicatedPostgres(makeFolder(), await freePort(), await freePort());
    try {
      initdb(cluster.primaryDir);
      await startServer(cluster.primaryDir, cluster.primaryPort, cluster.dir);
      await withClient(`postgres://postgres@127.0.0.1:${cluster.primaryPort}/postgres`, (c) => c.query(`CREATE DATABASE ${DATABASE}`));
      await runMigrations(cluster.primaryUrl, migrations);
      basebackup(cluster.primaryPort, cluster.replicaDir);
      await startServer(cluster.replicaDir, cluster.replicaPort, cluster.dir);
      return cluster;
    } catch (e) {
      await cluster.stop();
      throw e;
    }
  }

  /** Stops the replica at once (a crash, connections drop). */
  killReplica(): void {
    stopServer(this.replicaDir, 'immediate');
  }

  /** Starts the replica again (it resumes streaming from where it stopped). */
  startReplica(): Promise<void> {
    return startServer(this.replicaDir, this.replicaPort, this.dir);
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
    removeFolder(this.dir);
    await Promise.resolve();
  }
}
