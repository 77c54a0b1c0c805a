import { CommandApiUnderTest } from '../command-api.test-support';

/**
 * G1: a write and its outbox row commit together or not at all. A trigger in the test's database
 * makes the write's statement fail after the endpoint row changed, or when its outbox row is
 * written; the route, the clock, the outbox, tenants and services must be as before.
 */
describe('write atomicity', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
    await api.db.query(`
      CREATE TABLE test_fail (target text PRIMARY KEY);
      CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM test_fail WHERE target = TG_TABLE_NAME) THEN
          RAISE EXCEPTION 'injected failure in %', TG_TABLE_NAME;
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER test_fail AFTER INSERT OR UPDATE OR DELETE ON endpoints FOR EACH ROW EXECUTE FUNCTION test_fail();
      CREATE TRIGGER test_fail AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION test_fail();`);
    expect((await api.request('PUT', '/v1/routes/acme/web/prod', { body: { url: 'https://v1.acme.internal' } })).status).toBe(201);
  });
  afterAll(() => api.stop());

  async function state(): Promise<unknown> {
    const { rows } = await api.db.query(
      `SELECT (SELECT revision FROM store_revision) AS clock,
              (SELECT json_agg(json_build_object('url', url, 'revision', revision) ORDER BY environment) FROM endpoints) AS endpoints,
              (SELECT count(*) FROM outbox) AS outbox,
              (SELECT count(*) FROM tenants) AS tenants,
              (SELECT count(*) FROM services) AS services`,
    );
    return rows[0];
  }

  const writes = [
    ['an update', 'PUT', '/v1/routes/acme/web/prod', { url: 'https://v2.acme.internal' }],
    ['a create in a new tenant', 'PUT', '/v1/routes/newco/api/prod', { url: 'https://api.newco.internal' }],
    ['a delete', 'DELETE', '/v1/routes/acme/web/prod', undefined],
  ] as const;
  const failures = [
    ['after the endpoint change', 'endpoints'],
    ['when the outbox row is written', 'outbox'],
  ] as const;

  it.each(writes.flatMap(([what, method, url, body]) => failures.map(([when, target]) => [what, when, target, method, url, body] as const)))(
    '%s that fails %s leaves neither the change nor an outbox row',
    async (_what, _when, target, method, url, body) => {
      const before = await state();
      await api.db.query('INSERT INTO test_fail (target) VALUES ($1)', [target]);
      try {
        const res = await api.request(method, url, { body });
        expect(res.status).toBe(500);
        expect(res.json()).toMatchObject({ status: 500, title: 'Internal Server Error' });
        expect(JSON.stringify(res.body)).not.toContain('injected failure');
      } finally {
        await api.db.query('DELETE FROM test_fail');
      }
      expect(await state()).toEqual(before);
    },
  );

  it('the same write then succeeds, with the next revision and its event', async () => {
    const res = await api.request('PUT', '/v1/routes/acme/web/prod', { body: { url: 'https://v2.acme.internal' } });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ revision: 2 });
    const { rows } = await api.db.query('SELECT revision::int, payload FROM outbox ORDER BY revision');
    expect(rows.map((r: { revision: number }) => r.revision)).toEqual([1, 2]);
    // The event carries the revision and time the statement took (filled in by the database).
    const { rows: route } = await api.db.query<{ updated_at: Date }>('SELECT updated_at FROM endpoints');
    expect(rows[1].payload).toMatchObject({
      subject: 'acme/web/prod',
      time: route[0]?.updated_at.toISOString(),
      data: { tenant: 'acme', service: 'web', environment: 'prod', url: 'https://v2.acme.internal', revision: 2 },
    });
  });
});
