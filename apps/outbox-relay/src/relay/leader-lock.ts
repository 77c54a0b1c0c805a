import { EventEmitter } from 'node:events';
import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import { OUTBOX_CHANNEL, preparedStatement } from '@tm/persistence';

/** The advisory lock whose holder is the one relay that publishes. */
export const RELAY_LEADER_LOCK = 7_340_010;

/**
 * Leadership through a PostgreSQL session-level advisory lock held on a connection of its own:
 * the lock lives exactly as long as that session, so a leader that dies (or loses the database)
 * lets a standby take over as soon as PostgreSQL sees the session end. The same connection
 * LISTENs to the outbox channel, so writes wake the leader at once, and carries the leader's
 * outbox reads (`query`), whose success proves the lead still held.
 *
 * Events: 'leader' (became leader), 'lost' (stopped being leader), 'wake' (a write committed).
 */
export class LeaderLock extends EventEmitter {
  private readonly logger = new Logger('LeaderLock');
  private client: Client | undefined;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly retryMs: number,
    readonly replica: string,
  ) {
    super();
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    void this.attempt();
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.attempt(), this.retryMs);
  }

  private async attempt(): Promise<void> {
    if (this.stopped || this.leading) return;
    try {
      if (!this.client) this.client = await this.connect();
      const { rows } = await this.client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RELAY_LEADER_LOCK]);
      if (rows[0]?.locked && !this.stopped) {
        await this.client.query(`LISTEN ${OUTBOX_CHANNEL}`);
        this.leading = true;
        this.logger.log(`${this.replica} is the leader`);
        this.emit('leader');
        return;
      }
    } catch (e) {
      this.logger.warn(`leader lock: ${e instanceof Error ? e.message : String(e)}`);
      this.drop();
    }
    this.schedule();
  }

  private async connect(): Promise<Client> {
    const client = new Client({
      connectionString: this.databaseUrl,
      application_name: `outbox-relay-lock:${this.replica}`,
      connectionTimeoutMillis: 2_000,
      // A silent network must not keep a dead leader "leading": queries give up after 2 s, and the
      // server drops the session (releasing the lock) when this host stops answering for ~5 s.
      query_timeout: 2_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 1_000,
      // synchronous_commit off: the only writes on this session are the marks (published_at), and a
      // mark lost with a crash of PostgreSQL only publishes its rows again (duplicates, which G7
      // allows and consumers ignore), so the relay's loop does not wait for a WAL flush per batch,
      // nor hold the WAL flush that route writes wait for to commit (their revision lock held).
      options:
        '-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3 -c tcp_user_timeout=5000 -c synchronous_commit=off',
    });
    client.on('notification', () => this.emit('wake'));
    client.on('error', (e) => {
      if (this.client !== client) return;
      this.logger.warn(`leader lock connection failed: ${e.message}`);
      this.drop();
      this.schedule();
    });
    client.on('end', () => {
      if (this.client === client) {
        this.drop();
        this.schedule();
      }
    });
    await client.connect();
    return client;
  }

  /** Forgets the connection; if it held the lock, leadership is lost (the session ended with it). */
  private drop(): void {
    const client = this.client;
    this.client = undefined;
    client?.removeAllListeners('end');
    void client?.end().catch(() => undefined);
    if (this.leading) {
      this.leading = false;
      this.logger.warn(`${this.replica} lost the lead`);
      this.emit('lost');
    }
  }

  /**
   * Runs a statement on the lock's own session, so that its success also proves the session (and
   * with it the lead) alive: a leader whose session died must not publish, as a standby may already
   * lead. A failure gives up the lead; not leading, it rejects without querying. Only short
   * statements: the session carries the notifications, and a query over 2 s ends the lead.
   */
  readonly query = async (sql: string, params: unknown[] = []): Promise<unknown[]> => {
    const client = this.client;
    if (!this.leading || !client) throw new Error(`${this.replica} is not the leader`);
    try {
      // Prepared once per session: the relay runs the same two statements for every batch.
      return (await client.query(preparedStatement(sql, params))).rows as unknown[];
    } catch (e) {
      if (this.client === client) {
        this.logger.warn(`leader lock session failed: ${e instanceof Error ? e.message : String(e)}`);
        this.drop();
        this.schedule();
      }
      throw e;
    }
  };

  /** Releases the lead (closing the session releases the lock) and stops trying. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    if (this.leading) {
      this.leading = false;
      this.emit('lost');
    }
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}
