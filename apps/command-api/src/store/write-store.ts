import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { routeEvent, type RouteEventData } from '@tm/contracts';
import { OUTBOX_CHANNEL, returning } from '@tm/persistence';
import { WRITE_HOOKS, type WriteHooks } from './write-hooks';

/**
 * PostgreSQL errors after which the whole transaction is worth running again: serialization and
 * deadlock failures, and the unique / foreign-key races of concurrent creates and tenant deletes.
 */
const RETRYABLE = new Set(['40001', '40P01', '23505', '23503']);
const MAX_ATTEMPTS = 5;
/** Seed of the hash that maps a route key to its advisory lock. */
export const ROUTE_LOCK_SEED = 7340003;

function sqlState(e: unknown): string | undefined {
  const err = e as { code?: unknown; driverError?: { code?: unknown } };
  const code = err?.driverError?.code ?? err?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The statement that takes the next revision (used as a CTE by writes that apply it at once). */
export const TAKE_REVISION =
  'UPDATE store_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision, clock_timestamp() AS at';

/**
 * The write path's transactions: the store-wide revision clock and the transactional outbox
 * (G1, G2, G7). Every route change takes its revision from the clock inside the transaction that
 * makes the change and writes its outbox row; the clock row's lock orders writers by commit.
 */
@Injectable()
export class WriteStore {
  private readonly logger = new Logger(WriteStore.name);

  constructor(
    private readonly dataSource: DataSource,
    @Inject(WRITE_HOOKS) readonly hooks: WriteHooks,
  ) {}

  /** Runs `work` in one READ COMMITTED transaction, again (a few times) when a race made it fail. */
  async transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.dataSource.transaction('READ COMMITTED', work);
      } catch (e) {
        const state = sqlState(e);
        if (attempt >= MAX_ATTEMPTS || state === undefined || !RETRYABLE.has(state)) throw e;
        this.logger.debug(`write transaction retried after SQLSTATE ${state} (attempt ${attempt})`);
      }
    }
  }

  /** Serialises writes of one route (a transaction-scoped advisory lock on its key). */
  async lockRoute(tx: EntityManager, key: string): Promise<void> {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, ${ROUTE_LOCK_SEED}))`, [key]);
  }

  /**
   * Takes the next `count` revisions. The clock row stays locked until commit, so revisions become
   * visible in the order they were taken (G2). Returns the last one and the database's clock time.
   */
  async takeRevisions(tx: EntityManager, count: number): Promise<{ last: number; at: Date }> {
    const [row] = await returning<{ revision: string; at: Date }>(
      tx,
      'UPDATE store_revision SET revision = revision + $1 WHERE id = 1 RETURNING revision, clock_timestamp() AS at',
      [count],
    );
    if (!row) throw new Error('the revision clock is missing: has the database been migrated?');
    return { last: Number(row.revision), at: row.at };
  }

  /**
   * Writes one outbox row per event (exactly one per route change, G7) and wakes the relay on
   * commit. One statement with array parameters, so a tenant deletion of any size fits.
   */
  async appendEvents(tx: EntityManager, events: RouteEventData[], at: Date): Promise<void> {
    if (events.length === 0) return;
    const ids: string[] = [];
    const keys: string[] = [];
    const types: string[] = [];
    const payloads: string[] = [];
    const revisions: number[] = [];
    for (const data of events) {
      const event = routeEvent(randomUUID(), at, data);
      ids.push(event.id);
      keys.push(event.subject);
      types.push(event.type);
      payloads.push(JSON.stringify(event));
      revisions.push(data.revision);
    }
    await tx.query(
      `WITH o AS (
         INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at)
         SELECT e.id, e.key, e.type, e.payload::jsonb, e.revision, $6
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS e (id, key, type, payload, revision))
       SELECT pg_notify($7, $8)`,
      [ids, keys, types, payloads, revisions, at, OUTBOX_CHANNEL, String(revisions[revisions.length - 1])],
    );
  }
}
