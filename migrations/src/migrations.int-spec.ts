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

/** The migrations before the one named (`and` more: up to it and `and` - 1 after it). */
function before(name: string, and = 0): typeof migrations {
  const at = migrations.findIndex((m) => m.name === name);
  if (at < 0) throw new Error(`no migration ${name}`);
  return migrations.slice(0, at + and);
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
  const name = `tm_test_${Date.now().toString(36)}quo${process.pid}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let client: Client;

  beforeAll(async () => {
    await admin((c) => c.query(`CREATE DATABASE "${name}"`));
    // The schema as it was before the migration, with routes in it.
    await runMigrations(url.toString(), before('TenantQuotas1764000000900'));
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
    expect(await runMigrations(url.toString(), before('TenantQuotas1764000000900', 1))).toEqual(['TenantQuotas1764000000900']);
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

describe('HistoryAudit: history starts with every route as it is', () => {
  const name = `tm_test_${Date.now().toString(36)}his${process.pid}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let client: Client;

  beforeAll(async () => {
    await admin((c) => c.query(`CREATE DATABASE "${name}"`));
    await runMigrations(url.toString(), before('HistoryAudit1764000001100'));
    client = new Client({ connectionString: url.toString() });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  });

  it('gives each route one version, its current state at its revision, and one change set per revision', async () => {
    await client.query(`INSERT INTO tenants (slug) VALUES ('a'), ('b')`);
    await client.query(`INSERT INTO services (tenant_id, name) SELECT id, 'web' FROM tenants`);
    const policy = { endpoints: [{ id: 'x', url: 'https://x.internal', priority: 1, weight: 1, state: 'enabled' }], healthCheck: null };
    await client.query(
      `INSERT INTO endpoints (service_id, environment, url, policy, revision)
       SELECT s.id, v.env, v.url, v.policy::jsonb, v.rev FROM services s JOIN tenants t ON t.id = s.tenant_id
         JOIN (VALUES ('a', 'prod', 'https://a.internal', NULL, 3), ('a', 'dev', 'https://x.internal', $1, 3), ('b', 'prod', 'https://b.internal', NULL, 5)) v(slug, env, url, policy, rev)
           ON v.slug = t.slug`,
      [JSON.stringify(policy)],
    );
    await runMigrations(url.toString(), migrations);
    const versions = await client.query('SELECT tenant, environment, revision::int, op, body, created FROM route_versions ORDER BY tenant, environment');
    expect(versions.rows).toEqual([
      { tenant: 'a', environment: 'dev', revision: 3, op: 'put', body: policy, created: false },
      { tenant: 'a', environment: 'prod', revision: 3, op: 'put', body: { url: 'https://a.internal' }, created: false },
      { tenant: 'b', environment: 'prod', revision: 5, op: 'put', body: { url: 'https://b.internal' }, created: false },
    ]);
    const sets = await client.query('SELECT revision::int, by, size, tenants FROM change_sets ORDER BY revision');
    expect(sets.rows).toEqual([
      { revision: 3, by: null, size: 2, tenants: ['a'] },
      { revision: 5, by: null, size: 1, tenants: ['b'] },
    ]);
  });
});
