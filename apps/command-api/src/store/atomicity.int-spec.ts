import { CommandApiUnderTest } from '../command-api.test-support';

/**
 * G1: a write and its outbox row commit together or not at all. The hook fails the transaction
 * after the endpoint row changed and before the outbox row is written.
 */
describe('write atomicity', () => {
  let api: CommandApiUnderTest;
  let failNext = false;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start({
      hooks: {
        afterEndpointChange: async () => {
          if (failNext) {
            failNext = false;
            throw new Error('injected failure after the endpoint change');
          }
        },
      },
    });
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

  it.each([
    ['an update', 'PUT', '/v1/routes/acme/web/prod', { url: 'https://v2.acme.internal' }],
    ['a create in a new tenant', 'PUT', '/v1/routes/newco/api/prod', { url: 'https://api.newco.internal' }],
    ['a delete', 'DELETE', '/v1/routes/acme/web/prod', undefined],
  ] as const)('%s that fails after the endpoint change leaves neither the change nor an outbox row', async (_what, method, url, body) => {
    const before = await state();
    failNext = true;
    const res = await api.request(method, url, { body });
    expect(res.status).toBe(500);
    expect(res.json()).toMatchObject({ status: 500, title: 'Internal Server Error' });
    expect(JSON.stringify(res.body)).not.toContain('injected failure');
    expect(await state()).toEqual(before);
  });

  it('the same write then succeeds, with the next revision and its event', async () => {
    const res = await api.request('PUT', '/v1/routes/acme/web/prod', { body: { url: 'https://v2.acme.internal' } });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ revision: 2 });
    const { rows } = await api.db.query('SELECT revision::int FROM outbox ORDER BY revision');
    expect(rows).toEqual([{ revision: 1 }, { revision: 2 }]);
  });
});
