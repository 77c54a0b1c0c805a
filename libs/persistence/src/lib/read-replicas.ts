import { Pool } from 'pg';
import type { Query } from './as-of';

/** Why a read did not go to a replica (metrics count them). */
export type ReplicaSkip =
  /** Its last read or check failed: it is not tried again until a check succeeds. */
  | 'down'
  /** The read failed on it (an error, or the connection broke). */
  | 'error'
  /** The read took longer than the per-statement timeout. */
  | 'timeout'
  /** Its snapshot was older than the revision the read needs. */
  | 'behind'
  /** Its WAL replay is paused (`pg_wal_replay_pause()`): it answers, but falls further behind. */
  | 'paused'
  /** It is not in recovery: not a replica (promoted, or a primary named by mistake). */
  | 'not_replica';

export type ReplicaState = 'up' | 'down' | 'paused' | 'not_replica';

export interface ReadReplicasOptions {
  urls: string[];
  /** Connections per replica. */
  poolSize: number;
  /** Per-statement timeout on a replica: past it the read goes to the primary. */
  timeoutMs: number;
  /** How often each replica's state and replayed revision are checked. */
  checkMs: number;
  applicationName: string;
}

export interface ReplicaEvents {
  skipped?(reason: ReplicaSkip, replica: string): void;
  /** A replica's state changed, or a check read its replayed revision. */
  checked?(replica: string, state: ReplicaState, revision: number | undefined): void;
}

interface Replica {
  /** host:port, for metrics and logs (never the URL: it may hold a password). */
  name: string;
  pool: Pool;
  state: ReplicaState;
  /** The store revision it had replayed at its last check or read. */
  revision: number;
}

/** Something read with the revision its snapshot reflects. */
export interface ReplicaAnswer<T> {
  value: T;
  replica: string;
}

/**
 * The read tier's PostgreSQL streaming replicas (DATABASE_READ_URL; docs/operations.md, "Read
 * replicas"). A read names the store revision it needs; `read` tries one replica that may have it
 * (round robin among those whose last known revision is high enough, else the most advanced), checks
 * the revision its snapshot actually reflects, and gives undefined when no replica served it: the
 * caller then reads the primary. A replica that errors, times out, is paused, is not in recovery or
 * is behind is skipped for that read (`skipped` says why); one that failed is not tried again until
 * the periodic check finds it answering. Nothing here decides what a read needs: that is the caller's
 * (the revision is always the primary's, so a lagging replica can never lower it).
 */
export class ReadReplicas {
  private readonly replicas: Replica[];
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly options: ReadReplicasOptions,
    private readonly events: ReplicaEvents = {},
  ) {
    this.replicas = options.urls.map((url) => {
      const parsed = new URL(url);
      const pool = new Pool({
        connectionString: url,
        max: options.poolSize,
        application_name: options.applicationName,
        connectionTimeoutMillis: Math.max(options.timeoutMs, 1_000),
        idleTimeoutMillis: 30_000,
        keepAlive: true,
        // The server cancels a slow statement; the client gives up on a hung connection.
        statement_timeout: options.timeoutMs,
        query_timeout: options.timeoutMs + 200,
      });
      // An idle connection whose server went away: the next read or check says so.
      pool.on('error', () => undefined);
      return { name: `${parsed.hostname}:${parsed.port || '5432'}`, pool, state: 'down' as ReplicaState, revision: 0 };
    });
  }

  get names(): string[] {
    return this.replicas.map((r) => r.name);
  }

  /** Starts the periodic checks (the first at once). */
  start(): void {
    const tick = (): void => {
      this.checking = this.checkAll().finally(() => {
        this.checking = undefined;
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.options.checkMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.checking;
    await Promise.all(this.replicas.map((r) => r.pool.end().catch(() => undefined)));
  }

  /** Resolves after a check of every replica (tests: a replica's new state is known). */
  async checkAll(): Promise<void> {
    await Promise.all(this.replicas.map((r) => this.check(r)));
  }

  /**
   * Runs `read` on a replica that has replayed at least `need`, or gives undefined (the primary
   * serves it). `revisionOf` gives the revision the read's snapshot reflects.
   */
  async read<T>(need: number, read: (query: Query) => Promise<T>, revisionOf: (value: T) => number): Promise<ReplicaAnswer<T> | undefined> {
    const replica = this.pick(need);
    if (!replica) return undefined;
    const query: Query = async <R>(sql: string, params: unknown[]) => (await replica.pool.query(sql, params)).rows as R[];
    let value: T;
    try {
      value = await read(query);
    } catch (e) {
      replica.state = 'down';
      this.events.checked?.(replica.name, 'down', undefined);
      this.events.skipped?.(isTimeout(e) ? 'timeout' : 'error', replica.name);
      return undefined;
    }
    const revision = revisionOf(value);
    replica.revision = Math.max(replica.revision, revision);
    if (revision < need) {
      this.events.skipped?.('behind', replica.name);
      return undefined;
    }
    return { value, replica: replica.name };
  }

  /** One replica to try: round robin among the usable ones known to have `need`, else the most advanced usable one. */
  private pick(need: number): Replica | undefined {
    const n = this.replicas.length;
    let best: Replica | undefined;
    for (let i = 0; i < n; i++) {
      const replica = this.replicas[(this.next + i) % n] as Replica;
      if (replica.state !== 'up') {
        this.events.skipped?.(replica.state, replica.name);
        continue;
      }
      if (replica.revision >= need) {
        this.next = (this.next + i + 1) % n;
        return replica;
      }
      if (!best || replica.revision > best.revision) best = replica;
    }
    return best;
  }

  private async check(replica: Replica): Promise<void> {
    let state: ReplicaState;
    let revision: number | undefined;
    try {
      const { rows } = await replica.pool.query<{ recovery: boolean; paused: boolean; revision: string | null }>(
        `SELECT pg_is_in_recovery() AS recovery,
                CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() <> 'not paused' ELSE false END AS paused,
                (SELECT revision FROM store_revision WHERE id = 1) AS revision`,
      );
      const row = rows[0];
      revision = row?.revision === null || row?.revision === undefined ? undefined : Number(row.revision);
      state = !row?.recovery ? 'not_replica' : row.paused ? 'paused' : revision === undefined ? 'down' : 'up';
    } catch {
      state = 'down';
    }
    replica.state = state;
    if (revision !== undefined) replica.revision = Math.max(replica.revision, revision);
    this.events.checked?.(replica.name, state, revision);
  }
}

function isTimeout(e: unknown): boolean {
  const message = e instanceof Error ? e.message : String(e);
  return (e as { code?: string } | undefined)?.code === '57014' || /timeout|timed out/i.test(message);
}
