import { CommandApiUnderTest } from '../command-api.test-support';

describe('tenants (command API, real PostgreSQL)', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
  });
  afterAll(() => api.stop());

  it('creates a tenant (201), refuses a second one with the same slug (409)', async () => {
    const res = await api.request('POST', '/v1/tenants', { body: { slug: 'initech', displayName: 'Initech' } });
    expect(res.status).toBe(201);
    expect(res.json()).toMatchObject({ slug: 'initech', displayName: 'Initech' });
    const again = await api.request('POST', '/v1/tenants', { body: { slug: 'initech' } });
    expect(again.status).toBe(409);
    expect(again.json()).toMatchObject({ status: 409, title: 'Conflict' });
  });

  it('lists and reads tenants; an unknown one is 404', async () => {
    await api.request('PUT', '/v1/routes/hooli/search/prod', { body: { url: 'https://search.hooli.internal' } });
    const list = await api.request('GET', '/v1/tenants');
    expect(list.status).toBe(200);
    expect(list.json<{ items: { slug: string }[] }>().items.map((t) => t.slug)).toEqual(['hooli', 'initech']);
    const one = await api.request('GET', '/v1/tenants/hooli');
    expect(one.json()).toMatchObject({ slug: 'hooli', displayName: null });
    expect((await api.request('GET', '/v1/tenants/nobody')).status).toBe(404);
  });

  it('deleting a tenant removes its services, routes and keys, with one deleted event per route, all at one revision (one change set)', async () => {
    for (const route of ['search/prod', 'search/staging', 'ads/prod']) {
      await api.request('PUT', `/v1/routes/hooli/${route}`, { body: { url: `https://${route.replace('/', '-')}.hooli.internal` } });
    }
    await api.request('PUT', '/v1/routes/initech/tps/prod', { body: { url: 'https://tps.initech.internal' } });
    const key = await api.createKey(['routes:read'], 'hooli');
    const before = (await api.db.query('SELECT revision::int FROM store_revision')).rows[0] as { revision: number };

    const res = await api.request('DELETE', '/v1/tenants/hooli');
    expect(res.status).toBe(204);

    const { rows: events } = await api.db.query(
      'SELECT revision::int, route_key, event_type, payload FROM outbox WHERE revision > $1 ORDER BY revision, route_key',
      [before.revision],
    );
    expect(events.map((e: { route_key: string }) => e.route_key)).toEqual(['hooli/ads/prod', 'hooli/search/prod', 'hooli/search/staging']);
    expect(events.map((e: { revision: number }) => e.revision)).toEqual([before.revision + 1, before.revision + 1, before.revision + 1]);
    for (const e of events as { event_type: string; payload: { changesetsize: number; data: { url: unknown; revision: number } }; revision: number }[]) {
      expect(e.event_type).toBe('traffic-manager.route.deleted.v1');
      expect(e.payload.data.url).toBeNull();
      expect(e.payload.data.revision).toBe(e.revision);
      expect(e.payload.changesetsize).toBe(3);
    }
    expect((await api.db.query('SELECT revision::int FROM store_revision')).rows[0]).toEqual({ revision: before.revision + 1 });
    const counts = await api.db.query(
      `SELECT (SELECT count(*) FROM services)::int AS services, (SELECT count(*) FROM endpoints)::int AS endpoints,
              (SELECT count(*) FROM tenants WHERE slug = 'hooli')::int AS tenants`,
    );
    expect(counts.rows[0]).toEqual({ services: 1, endpoints: 1, tenants: 0 });
    expect((await api.request('GET', '/v1/tenants', { token: key })).status).toBe(401);
    expect((await api.request('GET', '/v1/routes/initech/tps/prod')).status).toBe(200);
    expect((await api.request('DELETE', '/v1/tenants/hooli')).status).toBe(404);
  });

  it('deleting a tenant without routes takes no revision', async () => {
    const before = await api.db.query('SELECT revision::int FROM store_revision');
    await api.request('POST', '/v1/tenants', { body: { slug: 'empty-co' } });
    expect((await api.request('DELETE', '/v1/tenants/empty-co')).status).toBe(204);
    expect((await api.db.query('SELECT revision::int FROM store_revision')).rows).toEqual(before.rows);
  });

  it('creating and deleting tenants is for admins only', async () => {
    const writer = await api.createKey(['routes:write'], 'initech');
    expect((await api.request('POST', '/v1/tenants', { token: writer, body: { slug: 'sneaky' } })).status).toBe(403);
    expect((await api.request('DELETE', '/v1/tenants/initech', { token: writer })).status).toBe(403);
    const own = await api.request('GET', '/v1/tenants', { token: writer });
    expect(own.json<{ items: { slug: string }[] }>().items.map((t) => t.slug)).toEqual(['initech']);
  });
});
