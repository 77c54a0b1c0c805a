import { DataSource } from 'typeorm';
import { postgresOptions } from '@tm/persistence';
import { createTestDatabase, type TestDatabase } from '@tm/testing';
import { OutboxStore } from './outbox-store';

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

  it('reads from the position after the last revision the leader marked', async () => {
    expect((await store.unpublished(3, undefined, 57)).map((r) => r.revision)).toEqual([58, 59, 60]);
    expect((await store.unpublished(3, undefined, 0)).map((r) => r.revision)).toEqual([56, 57, 58]);
  });

  it('marking the last rows reads an empty batch', async () => {
    const rows = await store.unpublished(1_000);
    expect(rows).toHaveLength(35);
    expect(await store.markPublished(rows, 10)).toEqual([]);
    expect(await store.unpublished(10)).toEqual([]);
  });
});
