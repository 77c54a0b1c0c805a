import { Client } from 'pg';
import { migrations, runMigrations } from './index';
import { ChangeSetOutbox1764000001000 } from './1764000001000-change-set-outbox';
import { TenantQuotas1764000000900 } from './1764000000900-tenant-quotas';
import { HistoryAudit1764000001100 } from './1764000001100-history-audit';

/** The migrations up to and including `last` (by class). */
function upTo(last: (typeof migrations)[number]): (typeof migrations)[number][] {
  return migrations.slice(0, migrations.indexOf(last) + 1);
}

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

/**
 * A database of the describe block's own, migrated up to just before `migration` (the schema as it was
 * before it), with a client on it; dropped after the block.
 */
function beforeMigration(tag: string, migration: (typeof migrations)[number]): { url: URL; client: () => Client } {
  const name = `tm_test_${Date.now().toString(36)}${tag}${process.pid}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let client: Client | undefined;
  beforeAll(async () => {
    await admin((c) => c.query(`CREATE DATABASE "${name}"`));
    await runMigrations(url.toString(), upTo(migration).slice(0, -1));
    client = new Client({ connectionString: url.toString() });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  });
  return {
    url,
    client: () => {
      if (!client) throw new Error('no client before beforeAll');
      return client;
    },
  };
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
  // The schema as it was before the migration, with routes in it.
  const db = beforeMigration('quo', TenantQuotas1764000000900);
  const { url } = db;
  let client: Client;
  beforeAll(() => {
    client = db.client();
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
    expect(await runMigrations(url.toString(), upTo(TenantQuotas1764000000900))).toEqual(['TenantQuotas1764000000900']);
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

describe('ChangeSetOutbox: many outbox rows at one revision', () => {
  const db = beforeMigration('cso', ChangeSetOutbox1764000001000);
  const { url } = db;
  let client: Client;
  beforeAll(() => {
    client = db.client();
  });

  const insert = (revision: number, key: string) =>
    client.query(
      `INSERT INTO outbox (event_id, route_key, event_type, payload, revision) VALUES (gen_random_uuid(), $2, 'traffic-manager.route.deleted.v1', '{}', $1)`,
      [revision, key],
    );
  const indexes = async () =>
    (await client.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE tablename = 'outbox' AND indexname IN ('outbox_revision_idx', 'outbox_unpublished_idx') ORDER BY indexname`)).rows.map(
      (r) => r.indexdef.replace(/ public\./g, ' '),
    );

  it('before it, a revision holds one row; after it, many, with the relay and the watch indexed on (revision, id); down goes back', async () => {
    await insert(1, 'a/web/prod');
    await expect(insert(1, 'a/web/dev')).rejects.toThrow(/outbox_revision_key/);
    expect(await runMigrations(url.toString(), upTo(ChangeSetOutbox1764000001000))).toEqual(['ChangeSetOutbox1764000001000']);
    await insert(2, 'a/web/prod');
    await insert(2, 'a/web/dev');
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE revision = 2');
    expect(rows[0]?.n).toBe(2);
    expect(await indexes()).toEqual([
      'CREATE INDEX outbox_revision_idx ON outbox USING btree (revision, id)',
      'CREATE INDEX outbox_unpublished_idx ON outbox USING btree (revision, id) WHERE (published_at IS NULL)',
    ]);

    await client.query('DELETE FROM outbox WHERE revision = 2');
    const runner = { query: (sql: string) => client.query(sql) } as never;
    await new ChangeSetOutbox1764000001000().down(runner);
    expect(await indexes()).toEqual(['CREATE INDEX outbox_unpublished_idx ON outbox USING btree (revision) WHERE (published_at IS NULL)']);
    await expect(insert(1, 'a/web/dev')).rejects.toThrow(/outbox_revision_key/);
  });
});

describe('HistoryAudit: history starts with every route as it is', () => {
  const db = beforeMigration('his', HistoryAudit1764000001100);
  const { url } = db;
  let client: Client;
  beforeAll(() => {
    client = db.client();
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
    expect(await runMigrations(url.toString(), upTo(HistoryAudit1764000001100))).toEqual(['HistoryAudit1764000001100']);
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
    await client.query(`INSERT INTO api_keys (lookup, secret_hash, name, scopes) VALUES ('l', decode(repeat('00', 32), 'hex'), 'auditor', ARRAY['audit:read'])`);
  });
});
