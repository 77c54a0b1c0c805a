import { Client } from 'pg';
import { CommandApiUnderTest } from '../command-api.test-support';

/** Tenant deletion against concurrent writes, forced by holding the deletion's locks in a session of the test's own. */
describe('tenant deletion races', () => {
  let api: CommandApiUnderTest;
  let session: Client;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
    session = new Client({ connectionString: api.database.url });
    await session.connect();
  });
  afterAll(async () => {
    await session.end();
    await api.stop();
  });

  async function deadlocks(): Promise<number> {
    const { rows } = await api.db.query<{ n: string }>('SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0]?.n);
  }

  /** Starts the tenant deletion's transaction as TenantsService does, up to its clock, and holds it there. */
  async function holdDeletion(slug: string): Promise<{ routes: number }> {
    await session.query('BEGIN');
    const { rows } = await session.query<{ id: string }>('SELECT id FROM tenants WHERE slug = $1 FOR UPDATE', [slug]);
    await session.query('SELECT id FROM services WHERE tenant_id = $1 FOR UPDATE', [rows[0]?.id]);
    const routes = await session.query(
      'SELECT e.id FROM endpoints e JOIN services s ON s.id = e.service_id WHERE s.tenant_id = $1 FOR UPDATE OF e',
      [rows[0]?.id],
    );
    return { routes: routes.rowCount ?? 0 };
  }

  /** Resolves once another session of this database waits for a lock (the request under test is blocked). */
  async function someoneWaitsForALock(): Promise<void> {
    for (;;) {
      const { rows } = await api.db.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      );
      if (rows.length > 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async function finishDeletion(slug: string): Promise<void> {
    await session.query('UPDATE store_revision SET revision = revision + 1');
    await session.query('DELETE FROM tenants WHERE slug = $1', [slug]);
    await session.query('COMMIT');
  }

  it('a PUT adding an environment while the tenant is being deleted waits, then recreates the tenant, without a deadlock', async () => {
    await api.request('PUT', '/v1/routes/doomed/web/prod', { body: { url: 'https://web.doomed.internal' } });
    const before = await deadlocks();
    await holdDeletion('doomed');
    const put = api.request('PUT', '/v1/routes/doomed/web/staging', { body: { url: 'https://staging.doomed.internal' } });
    // Once the PUT waits on a row the deletion holds, let the deletion take the clock and commit.
    await someoneWaitsForALock();
    await finishDeletion('doomed');
    const res = await put;
    expect(res.status).toBe(201);
    expect((await api.request('GET', '/v1/routes/doomed/web/staging')).status).toBe(200);
    expect((await api.request('GET', '/v1/routes/doomed/web/prod')).status).toBe(404);
    expect(await deadlocks()).toBe(before);
  });

  it('creating a key for a tenant that is deleted meanwhile is a 404, not a 500', async () => {
    await api.request('POST', '/v1/tenants', { body: { slug: 'vanishing' } });
    await holdDeletion('vanishing');
    const create = api.request('POST', '/v1/api-keys', { body: { name: 'k', tenant: 'vanishing', scopes: ['routes:read'] } });
    await someoneWaitsForALock();
    await finishDeletion('vanishing');
    const res = await create;
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ status: 404 });
  });

  it('a tenant with 11,000 routes is deleted in one transaction with 11,000 events', async () => {
    await api.request('POST', '/v1/tenants', { body: { slug: 'big' } });
    await api.db.query(`
      WITH s AS (INSERT INTO services (tenant_id, name) SELECT id, 'svc-' || g FROM tenants, generate_series(1, 110) g WHERE slug = 'big' RETURNING id)
      INSERT INTO endpoints (service_id, environment, url, revision) SELECT s.id, 'env-' || g, 'https://big.example/' || g, 1 FROM s, generate_series(1, 100) g`);
    const before = await api.db.query<{ revision: string }>('SELECT revision FROM store_revision');
    const res = await api.request('DELETE', '/v1/tenants/big');
    expect(res.status).toBe(204);
    const { rows } = await api.db.query<{ n: number; lo: string; hi: string }>(
      "SELECT count(*)::int AS n, min(revision) AS lo, max(revision) AS hi FROM outbox WHERE route_key LIKE 'big/%' AND event_type = 'traffic-manager.route.deleted.v1'",
    );
    expect(rows[0]?.n).toBe(11_000);
    expect(Number(rows[0]?.lo)).toBe(Number(before.rows[0]?.revision) + 1);
    expect(Number(rows[0]?.hi)).toBe(Number(before.rows[0]?.revision) + 11_000);
    expect((await api.request('GET', '/v1/tenants/big')).status).toBe(404);
  }, 120_000);
});
