import { Client } from 'pg';
import { migrations, runMigrations } from './index';

// Self-contained on purpose: the test harness (libs/testing) migrates its template with this
// project, so this project's tests cannot use the harness.
const adminUrl = process.env['TM_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('runMigrations', () => {
  const name = `tm_test_${Date.now().toString(36)}mig${process.pid}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;

  beforeAll(() => admin((c) => c.query(`CREATE DATABASE "${name}"`)));
  afterAll(() => admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)));

  it('applies every migration once, even when two runners race', async () => {
    const [a, b] = await Promise.all([
      runMigrations(url.toString(), migrations),
      runMigrations(url.toString(), migrations),
    ]);
    expect([...a, ...b].sort()).toEqual(migrations.map((m) => m.name).sort());
    expect(await runMigrations(url.toString(), migrations)).toEqual([]);
  });

  it('leaves the revision clock at 0 with exactly one row', async () => {
    const client = new Client({ connectionString: url.toString() });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT id, revision FROM store_revision');
      expect(rows).toEqual([{ id: 1, revision: '0' }]);
      await expect(client.query('INSERT INTO store_revision (id) VALUES (2)')).rejects.toThrow(/check constraint/);
    } finally {
      await client.end();
    }
  });
});

describe('TenantQuotas: the tenant counts', () => {
  const QUOTAS = migrations.findIndex((m) => m.name === 'TenantQuotas1764000000900');
  const name = `tm_test_${Date.now().toString(36)}quo${process.pid}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let client: Client;

  beforeAll(async () => {
    await admin((c) => c.query(`CREATE DATABASE "${name}"`));
    // The schema as it was before the migration, with routes in it.
    await runMigrations(url.toString(), migrations.slice(0, QUOTAS));
    client = new Client({ connectionString: url.toString() });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  });

  async function counts(): Promise<Record<string, [number, number]>> {
    const { rows } = await client.query<{ slug: string; route_count: number; probed_endpoint_count: number }>(
      'SELECT slug, route_count, probed_endpoint_count FROM tenants ORDER BY slug',
    );
    return Object.fromEntries(rows.map((r) => [r.slug, [r.route_count, r.probed_endpoint_count]]));
  }

  it('are backfilled from the routes there are, then follow every insert, update and delete of endpoints', async () => {
    const probed = (states: string[], check = true) =>
      JSON.stringify({ endpoints: states.map((state, i) => ({ id: `e${i}`, url: `https://e${i}.internal`, state })), healthCheck: check ? { type: 'http' } : null });
    await client.query(`INSERT INTO tenants (slug) VALUES ('a'), ('b'), ('empty')`);
    await client.query(`INSERT INTO services (tenant_id, name) SELECT id, 'web' FROM tenants`);
    await client.query(
      `INSERT INTO endpoints (service_id, environment, url, policy, revision)
       SELECT s.id, v.env, 'https://x.internal', v.policy::jsonb, 1
         FROM services s JOIN tenants t ON t.id = s.tenant_id
         JOIN (VALUES ('a', 'p1', $1), ('a', 'p2', $2), ('a', 'plain', NULL), ('b', 'unprobed', $3)) v(slug, env, policy) ON v.slug = t.slug`,
      [probed(['enabled', 'draining', 'disabled']), probed(['enabled']), probed(['enabled', 'enabled'], false)],
    );
    expect(await runMigrations(url.toString(), migrations.slice(0, QUOTAS + 1))).toEqual(['TenantQuotas1764000000900']);
    // a: 3 routes, probed 2 (a disabled endpoint is not probed) + 1; b: an unprobed route.
    expect(await counts()).toEqual({ a: [3, 3], b: [1, 0], empty: [0, 0] });

    await client.query(`UPDATE endpoints SET policy = $1 WHERE environment = 'unprobed'`, [probed(['enabled', 'enabled'])]);
    await client.query(`DELETE FROM endpoints WHERE environment = 'p1'`);
    await client.query(
      `INSERT INTO endpoints (service_id, environment, url, revision) SELECT s.id, 'more', 'https://m.internal', 2 FROM services s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = 'empty'`,
    );
    expect(await counts()).toEqual({ a: [2, 1], b: [1, 2], empty: [1, 0] });
  });
});
