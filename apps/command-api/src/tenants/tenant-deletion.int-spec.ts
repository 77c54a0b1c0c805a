import { CloudEvent } from 'cloudevents';
import { parseRouteEvent, type RouteEvent } from '@tm/contracts';
import { CommandApiUnderTest, snapshot } from '../command-api.test-support';

/**
 * A tenant deletion is all or nothing (G1) and one change set: exactly one `deleted` event per route,
 * all at one new revision (G2, G7), with the event a route deletion writes.
 */
describe('tenant deletion: atomic, one event per route', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
    // A failure the test injects: the statement fails when it touches the row of `table` that has
    // `value` in one of its columns (so midway through a tenant's rows, not at the first).
    await api.db.query(`
      CREATE TABLE test_fail (tbl text NOT NULL, value text NOT NULL);
      CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        touched jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
      BEGIN
        IF EXISTS (SELECT 1 FROM test_fail f, jsonb_each_text(touched) c WHERE f.tbl = TG_TABLE_NAME AND f.value = c.value) THEN
          RAISE EXCEPTION 'injected failure in % (%)', TG_TABLE_NAME, TG_OP;
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER test_fail AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION test_fail();
      CREATE TRIGGER test_fail AFTER DELETE ON endpoints FOR EACH ROW EXECUTE FUNCTION test_fail();
      CREATE TRIGGER test_fail AFTER DELETE ON services FOR EACH ROW EXECUTE FUNCTION test_fail();
      CREATE TRIGGER test_fail AFTER DELETE ON api_keys FOR EACH ROW EXECUTE FUNCTION test_fail();
      CREATE TRIGGER test_fail AFTER DELETE ON tenants FOR EACH ROW EXECUTE FUNCTION test_fail();
      CREATE TRIGGER test_fail AFTER UPDATE ON store_revision FOR EACH ROW EXECUTE FUNCTION test_fail();`);
  });
  afterAll(() => api.stop());

  /** `routes` routes of `slug` (svc-1..svc-10, env-1.., through SQL: fast) and a key bound to it. */
  async function seed(slug: string, routes: number): Promise<void> {
    expect((await api.request('POST', '/v1/tenants', { body: { slug } })).status).toBe(201);
    await api.db.query(
      `WITH s AS (INSERT INTO services (tenant_id, name) SELECT id, 'svc-' || g FROM tenants, generate_series(1, 10) g WHERE slug = $1 RETURNING id, name)
       INSERT INTO endpoints (service_id, environment, url, revision)
       SELECT s.id, 'env-' || g, 'https://' || s.name || '.example/' || g, 1 FROM s, generate_series(1, $2::int / 10) g`,
      [slug, routes],
    );
    await api.createKey(['routes:read'], slug);
  }

  describe('a deletion that fails midway changes nothing', () => {
    beforeAll(async () => {
      await seed('fragile', 40);
      await api.request('PUT', '/v1/routes/sturdy/web/prod', { body: { url: 'https://web.sturdy.internal' } });
    });

    it.each([
      ['an outbox row in the middle', 'outbox', 'fragile/svc-5/env-2'],
      ['deleting an endpoint in the middle', 'endpoints', 'env-3'],
      ['a service going with its tenant', 'services', 'svc-7'],
      ['a key going with its tenant', 'api_keys', 'key-routes:read'],
      ['the tenant row', 'tenants', 'fragile'],
      ['taking the revisions', 'store_revision', '1'],
    ])('failing at %s: routes, clock, outbox, services, keys and tenant as before', async (_what, table, value) => {
      const before = await snapshot(api.db);
      await api.db.query('INSERT INTO test_fail (tbl, value) VALUES ($1, $2)', [table, value]);
      try {
        const res = await api.request('DELETE', '/v1/tenants/fragile');
        expect(res.status).toBe(500);
        expect(JSON.stringify(res.body)).not.toContain('injected failure');
      } finally {
        await api.db.query('DELETE FROM test_fail');
      }
      expect(await snapshot(api.db)).toEqual(before);
    });

    it('the same deletion then succeeds, with its 40 events', async () => {
      expect((await api.request('DELETE', '/v1/tenants/fragile')).status).toBe(204);
      const { rows } = await api.db.query("SELECT count(*)::int AS n FROM outbox WHERE route_key LIKE 'fragile/%'");
      expect(rows[0]).toEqual({ n: 40 });
      expect((await api.request('GET', '/v1/routes/sturdy/web/prod')).status).toBe(200);
    });
  });

  it('a 1,000-route tenant: 1,000 deleted events at one revision, each a CloudEvent as a route deletion writes it with changesetsize 1000', async () => {
    await seed('bulk', 1_000);
    // A route deletion's event, the shape to match.
    await api.request('PUT', '/v1/routes/single/web/prod', { body: { url: 'https://web.single.internal' } });
    expect((await api.request('DELETE', '/v1/routes/single/web/prod')).status).toBe(204);
    const {
      rows: [single],
    } = await api.db.query<{ payload: RouteEvent }>("SELECT payload FROM outbox WHERE route_key = 'single/web/prod' AND event_type LIKE '%deleted%'");
    const clock = Number((await api.db.query<{ revision: string }>('SELECT revision FROM store_revision')).rows[0]?.revision);

    const bulkId = (await api.db.query<{ id: string }>("SELECT id FROM tenants WHERE slug = 'bulk'")).rows[0]?.id;
    expect((await api.request('DELETE', '/v1/tenants/bulk')).status).toBe(204);

    const { rows } = await api.db.query<{ event_id: string; route_key: string; event_type: string; revision: string; created_at: Date; payload: RouteEvent }>(
      'SELECT event_id, route_key, event_type, revision, created_at, payload FROM outbox WHERE revision > $1 ORDER BY revision, route_key COLLATE "C"',
      [clock],
    );
    expect(rows).toHaveLength(1_000);
    expect(Number((await api.db.query<{ revision: string }>('SELECT revision FROM store_revision')).rows[0]?.revision)).toBe(clock + 1);
    // Every route once, all at clock+1 (listed in route key byte order).
    const expected = Array.from({ length: 10 }, (_, s) => Array.from({ length: 100 }, (_, e) => `bulk/svc-${s + 1}/env-${e + 1}`))
      .flat()
      .sort();
    expect(rows.map((r) => r.route_key)).toEqual(expected);
    expect(rows.map((r) => Number(r.revision))).toEqual(expected.map(() => clock + 1));
    // A single route write is a change set of one.
    expect(single?.payload.changesetsize).toBe(1);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(1_000);
    const time = rows[0]?.created_at.toISOString();
    for (const row of rows) {
      const [tenant, service, environment] = row.route_key.split('/');
      expect(row.event_type).toBe('traffic-manager.route.deleted.v1');
      expect(row.payload).toEqual({
        ...single?.payload,
        id: row.event_id,
        subject: row.route_key,
        time,
        // The tenant deleted, by id (a tenant created again under the slug gets another).
        tenantid: bulkId,
        changesetsize: 1_000,
        data: { tenant, service, environment, url: null, revision: Number(row.revision), endpoints: [], healthCheck: null },
      });
      expect(row.created_at.toISOString()).toBe(time);
      expect(parseRouteEvent(JSON.stringify(row.payload))).toEqual({ event: row.payload });
      expect(new CloudEvent(row.payload as never, true).validate()).toBe(true);
    }
    const counts = await api.db.query(
      `SELECT (SELECT count(*) FROM tenants WHERE slug = 'bulk')::int AS tenants,
              (SELECT count(*) FROM services s WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = s.tenant_id))::int AS orphans,
              (SELECT count(*) FROM api_keys WHERE tenant_id IS NOT NULL AND tenant_id NOT IN (SELECT id FROM tenants))::int AS keys`,
    );
    expect(counts.rows[0]).toEqual({ tenants: 0, orphans: 0, keys: 0 });
  }, 60_000);
});
