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
