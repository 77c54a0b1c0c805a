import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '@tm/testing';
import { currentRevision, databaseTime, readRouteAsOf, type Query } from './as-of';

describe('readRouteAsOf', () => {
  let db: TestDatabase;
  let client: Client;
  let query: Query;
  beforeAll(async () => {
    db = await createTestDatabase();
    client = new Client({ connectionString: db.url });
    await client.connect();
    query = async <T>(sql: string, params: unknown[]) => (await client.query(sql, params)).rows as T[];
  });
  afterAll(async () => {
    await client.end();
    await db.drop();
  });

  it('gives the clock and no route when the route does not exist', async () => {
    expect(await readRouteAsOf(query, { tenant: 'acme', service: 'web', environment: 'prod' })).toEqual({ asOf: 0, route: null, readAt: expect.any(Number) });
  });

  it("stamps the answer with the database's time of the statement, in ms (not the caller's clock)", async () => {
    // The database's time seen by separate statements around the read: the read's lies between.
    const dbNow = async () => Number((await client.query<{ t: number }>('SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS t')).rows[0]?.t);
    const before = await dbNow();
    const { readAt } = await readRouteAsOf(query, { tenant: 'acme', service: 'web', environment: 'prod' });
    const sampled = await databaseTime(query);
    const after = await dbNow();
    expect(Number.isInteger(readAt)).toBe(true);
    expect(sampled).toBeGreaterThanOrEqual(readAt);
    expect(sampled).toBeLessThanOrEqual(after);
    expect(readAt).toBeGreaterThanOrEqual(before);
    expect(readAt).toBeLessThanOrEqual(after);
  });

  it('gives the route and the clock from one snapshot', async () => {
    await client.query(`
      WITH t AS (INSERT INTO tenants (slug) VALUES ('acme') RETURNING id),
           s AS (INSERT INTO services (tenant_id, name) SELECT id, 'web' FROM t RETURNING id)
      INSERT INTO endpoints (service_id, environment, url, revision) SELECT id, 'prod', 'https://web.acme.internal', 1 FROM s`);
    await client.query('UPDATE store_revision SET revision = 3');
    const snapshot = await readRouteAsOf(query, { tenant: 'acme', service: 'web', environment: 'prod' });
    expect(snapshot.asOf).toBe(3);
    expect(snapshot.route).toMatchObject({ url: 'https://web.acme.internal', revision: 1 });
    expect(snapshot.route?.updatedAt).toBeInstanceOf(Date);
    expect(await readRouteAsOf(query, { tenant: 'acme', service: 'web', environment: 'staging' })).toMatchObject({ asOf: 3, route: null });
    expect(await currentRevision(query)).toBe(3);
  });

  it('does not see a write that has not committed, and sees it with its revision once it has', async () => {
    const writer = new Client({ connectionString: db.url });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      await writer.query("UPDATE endpoints SET url = 'https://web2.acme.internal', revision = 4");
      await writer.query('UPDATE store_revision SET revision = 4');
      const during = await readRouteAsOf(query, { tenant: 'acme', service: 'web', environment: 'prod' });
      expect(during).toMatchObject({ asOf: 3, route: { url: 'https://web.acme.internal', revision: 1 } });
      await writer.query('COMMIT');
      const after = await readRouteAsOf(query, { tenant: 'acme', service: 'web', environment: 'prod' });
      expect(after).toMatchObject({ asOf: 4, route: { url: 'https://web2.acme.internal', revision: 4 } });
    } finally {
      await writer.end();
    }
  });
});
