import { DataSource } from 'typeorm';
import { postgresOptions } from '@tm/persistence';
import { createTestDatabase, type TestDatabase } from '@tm/testing';
import { cursorAfter, OUTBOX_START, OutboxStore, type OutboxCursor, type OutboxRow } from './outbox-store';

describe('OutboxStore (real PostgreSQL)', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let store: OutboxStore;
  beforeAll(async () => {
    db = await createTestDatabase();
    dataSource = await new DataSource(postgresOptions({ url: db.url, poolSize: 2 })).initialize();
    store = new OutboxStore(dataSource);
    await dataSource.query(`
      INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at, published_at)
      SELECT gen_random_uuid(), 'acme/web/prod', 'traffic-manager.route.upserted.v1', '{}'::jsonb, g,
             now() - make_interval(hours => 100 - g),
             CASE WHEN g <= 50 THEN now() - make_interval(hours => 100 - g) END
        FROM generate_series(1, 90) g`);
    await dataSource.query('UPDATE store_revision SET revision = 90');
  });
  afterAll(async () => {
    await dataSource.destroy();
    await db.drop();
  });

  it('reads unpublished rows in revision order, a batch at a time', async () => {
    const rows = await store.unpublished(10);
    expect(rows.map((r) => r.revision)).toEqual(Array.from({ length: 10 }, (_, i) => 51 + i));
  });

  it('reports the backlog and the age of its oldest row', async () => {
    const backlog = await store.backlog();
    expect(backlog.rows).toBe(40);
    expect(backlog.oldestAgeSeconds).toBeGreaterThan(48 * 3600);
  });

  it('retention deletes only published rows older than the limit, oldest first, in batches, never the newest ones', async () => {
    // Published rows are revisions 1..50, published 99..50 hours ago; 24 h keeps none of them by age.
    // Keeping the newest 70 revisions (21..90) leaves 21..50 in place.
    expect(await store.deletePublishedBefore(24, 100, 70)).toBe(20);
    const [oldest] = await dataSource.query<{ min: string }[]>('SELECT min(revision) AS min FROM outbox');
    expect(Number(oldest?.min)).toBe(21);
    expect(await store.deletePublishedBefore(24, 100)).toBe(0);
    expect(await store.deletePublishedBefore(24, 20, 0)).toBe(20);
    expect(await store.deletePublishedBefore(24, 20, 0)).toBe(10);
    expect(await store.deletePublishedBefore(24, 20, 0)).toBe(0);
    const [left] = await dataSource.query<{ n: number; unpublished: number }[]>(
      'SELECT count(*)::int AS n, count(*) FILTER (WHERE published_at IS NULL)::int AS unpublished FROM outbox',
    );
    expect(left).toEqual({ n: 40, unpublished: 40 });
  });

  it('marks rows published and reads the next ones in the same statement', async () => {
    const rows = await store.unpublished(5);
    expect(rows.map((r) => r.revision)).toEqual([51, 52, 53, 54, 55]);
    const next = await store.markPublished(rows, 3);
    expect(next.map((r) => r.revision)).toEqual([56, 57, 58]);
    expect((await store.unpublished(1))[0]?.revision).toBe(56);
    const [marked] = await dataSource.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM outbox WHERE revision BETWEEN 51 AND 55 AND published_at IS NOT NULL',
    );
    expect(marked?.n).toBe(5);
  });

  it('reads from the position after the last row the leader marked', async () => {
    const [at57] = await dataSource.query<{ id: string }[]>('SELECT id FROM outbox WHERE revision = 57');
    expect((await store.unpublished(3, undefined, { revision: 57, id: at57?.id ?? '' })).map((r) => r.revision)).toEqual([58, 59, 60]);
    expect((await store.unpublished(3, undefined, OUTBOX_START)).map((r) => r.revision)).toEqual([56, 57, 58]);
  });

  it('marking the last rows reads an empty batch', async () => {
    const rows = await store.unpublished(1_000);
    expect(rows).toHaveLength(35);
    expect(await store.markPublished(rows, 10)).toEqual([]);
    expect(await store.unpublished(10)).toEqual([]);
  });
});

/**
 * Change sets: a revision holds one row per route it changed (a tenant deletion up to 10,000), so a
 * batch may end inside one, and retention counts rows but deletes whole revisions.
 */
describe('OutboxStore: revisions of many rows (real PostgreSQL)', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let store: OutboxStore;
  /** Revisions 1..6 with 1, 25, 1, 3, 40, 2 rows; 1..5 published 50 hours ago. */
  const sizes = [1, 25, 1, 3, 40, 2];
  beforeAll(async () => {
    db = await createTestDatabase();
    dataSource = await new DataSource(postgresOptions({ url: db.url, poolSize: 2 })).initialize();
    store = new OutboxStore(dataSource);
    // Rows of a revision inserted in reverse route order: ids are not route order, the cursor is (revision, id).
    await dataSource.query(
      `INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at)
       SELECT gen_random_uuid(), 'acme/svc-' || lpad(n::text, 3, '0') || '/prod', 'traffic-manager.route.deleted.v1', '{}'::jsonb, r.rev, now()
         FROM unnest($1::int[]) WITH ORDINALITY r(size, rev), generate_series(r.size, 1, -1) n
        ORDER BY r.rev, n DESC`,
      [sizes],
    );
    await dataSource.query(`UPDATE store_revision SET revision = ${sizes.length}`);
  });
  afterAll(async () => {
    await dataSource.destroy();
    await db.drop();
  });

  it('pages by (revision, id): a batch that ends inside a revision is followed by the rest of it, nothing skipped, nothing twice', async () => {
    const seen: OutboxRow[] = [];
    let cursor: OutboxCursor = OUTBOX_START;
    let batch = await store.unpublished(10, undefined, cursor);
    let batches = 0;
    while (batch.length > 0) {
      seen.push(...batch);
      cursor = cursorAfter(batch, cursor);
      // The leader's loop: marking reads the next batch; a fresh read from the cursor gives the same.
      const fresh = await store.unpublished(10, undefined, cursor);
      batch = await store.markPublished(batch, 10);
      expect(batch).toEqual(fresh);
      batches++;
    }
    expect(batches).toBe(8);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(seen).toHaveLength(total);
    expect(new Set(seen.map((r) => r.id)).size).toBe(total);
    // Revision order, and within a revision the order of ids.
    expect(seen.map((r) => r.revision)).toEqual(sizes.flatMap((n, i) => Array.from({ length: n }, () => i + 1)));
    expect(seen.map((r) => Number(r.id))).toEqual([...seen.map((r) => Number(r.id))].sort((a, b) => a - b));
    const [left] = await dataSource.query<{ n: number }[]>('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL');
    expect(left?.n).toBe(0);
  });

  it('retention counts the newest rows to keep, and keeps every row of their oldest revision', async () => {
    await dataSource.query(`UPDATE outbox SET published_at = now() - make_interval(hours => 50) WHERE revision <= 5`);
    await dataSource.query(`UPDATE outbox SET published_at = now() WHERE revision = 6`);
    const revisions = async () =>
      (await dataSource.query<{ revision: string; n: number }[]>('SELECT revision, count(*)::int AS n FROM outbox GROUP BY revision ORDER BY revision')).map((r) => [
        Number(r.revision),
        r.n,
      ]);
    // The newest 10 rows end inside revision 5 (2 rows of 6, 8 of 5's 40): 5 stays whole, and 1..4 may go.
    // A batch of 20 rows ends inside revision 2 (25 rows, all old enough): revision 2 goes whole with 1.
    expect(await store.deletePublishedBefore(24, 20, 10)).toBe(26);
    expect(await revisions()).toEqual([[3, 1], [4, 3], [5, 40], [6, 2]]);
    expect(await store.deletePublishedBefore(24, 20, 10)).toBe(4);
    expect(await store.deletePublishedBefore(24, 20, 10)).toBe(0);
    expect(await revisions()).toEqual([[5, 40], [6, 2]]);
    // Keeping fewer rows than revision 6 has: 5 goes; 6 is too young.
    expect(await store.deletePublishedBefore(24, 1_000, 1)).toBe(40);
    expect(await store.deletePublishedBefore(24, 1_000, 0)).toBe(0);
    expect(await revisions()).toEqual([[6, 2]]);
  });

  it('retention never deletes part of a revision: one row of it published later keeps the whole revision', async () => {
    await dataSource.query(
      `INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at, published_at)
       SELECT gen_random_uuid(), 'beta/svc-' || n || '/prod', 'traffic-manager.route.deleted.v1', '{}'::jsonb, 7, now(),
              CASE WHEN n = 3 THEN now() ELSE now() - make_interval(hours => 50) END
         FROM generate_series(1, 5) n`,
    );
    await dataSource.query(`UPDATE outbox SET published_at = now() - make_interval(hours => 50) WHERE revision = 6`);
    // Revision 6 goes; 7 stays whole (its third row is young), whether the batch reads it all or not.
    expect(await store.deletePublishedBefore(24, 4, 0)).toBe(2);
    expect(await store.deletePublishedBefore(24, 4, 0)).toBe(0);
    expect(await store.deletePublishedBefore(24, 100, 0)).toBe(0);
    const [left] = await dataSource.query<{ n: number }[]>('SELECT count(*)::int AS n FROM outbox WHERE revision = 7');
    expect(left?.n).toBe(5);
  });
});
