import { CloudEvent } from 'cloudevents';
import { CommandApiUnderTest } from '../command-api.test-support';

interface Route {
  tenant: string;
  service: string;
  environment: string;
  url: string;
  revision: number;
  createdAt: string;
  updatedAt: string;
}

describe('routes (command API, real PostgreSQL)', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
  });
  afterAll(() => api.stop());

  async function outbox(): Promise<{ revision: number; route_key: string; event_type: string; payload: Record<string, unknown> }[]> {
    const { rows } = await api.db.query('SELECT revision::int, route_key, event_type, payload FROM outbox ORDER BY revision');
    return rows;
  }

  it('PUT creates the route, its tenant and service, with one outbox event, and answers 201', async () => {
    const res = await api.request('PUT', '/v1/routes/acme/billing/prod', { body: { url: 'https://billing.acme.internal/api' } });
    expect(res.status).toBe(201);
    const route = res.json<Route>();
    expect(route).toMatchObject({ tenant: 'acme', service: 'billing', environment: 'prod', url: 'https://billing.acme.internal/api', revision: 1 });
    expect(route.createdAt).toBe(route.updatedAt);
    expect(res.headers['etag']).toBe('"1"');
    expect(res.headers['x-route-revision']).toBe('1');
    expect(res.headers['location']).toBe('/v1/routes/acme/billing/prod');
    const { rows } = await api.db.query("SELECT slug FROM tenants WHERE slug = 'acme'");
    expect(rows).toHaveLength(1);
    const events = await outbox();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ revision: 1, route_key: 'acme/billing/prod', event_type: 'traffic-manager.route.upserted.v1' });
  });

  it('the outbox payload is a valid CloudEvents 1.0 event carrying the route', async () => {
    const [row] = await outbox();
    const payload = row?.payload as Record<string, unknown>;
    const event = new CloudEvent(payload as never, true);
    expect(event.validate()).toBe(true);
    expect(payload).toMatchObject({
      specversion: '1.0',
      source: '/traffic-manager/command-api',
      type: 'traffic-manager.route.upserted.v1',
      subject: 'acme/billing/prod',
      datacontenttype: 'application/json',
      data: { tenant: 'acme', service: 'billing', environment: 'prod', url: 'https://billing.acme.internal/api', revision: 1 },
    });
    // The extension attribute tenantid: the tenant by id.
    const { rows } = await api.db.query<{ id: string }>("SELECT id FROM tenants WHERE slug = 'acme'");
    expect(payload['tenantid']).toBe(rows[0]?.id);
    expect(event.tenantid).toBe(rows[0]?.id);
  });

  it('PUT with a new URL updates: 200, the next revision, one more event', async () => {
    const res = await api.request('PUT', '/v1/routes/acme/billing/prod', { body: { url: 'https://billing-v2.acme.internal/api' } });
    expect(res.status).toBe(200);
    expect(res.json<Route>()).toMatchObject({ url: 'https://billing-v2.acme.internal/api', revision: 2 });
    expect(res.json<Route>().updatedAt > res.json<Route>().createdAt).toBe(true);
    expect((await outbox()).map((e) => e.revision)).toEqual([1, 2]);
  });

  it('PUT with the URL the route already has changes nothing: 200, same revision, no event', async () => {
    const res = await api.request('PUT', '/v1/routes/acme/billing/prod', { body: { url: 'https://billing-v2.acme.internal/api' } });
    expect(res.status).toBe(200);
    expect(res.json<Route>().revision).toBe(2);
    expect(res.headers['etag']).toBe('"2"');
    expect((await outbox()).map((e) => e.revision)).toEqual([1, 2]);
    const { rows } = await api.db.query('SELECT revision::int FROM store_revision');
    expect(rows).toEqual([{ revision: 2 }]);
  });

  it('GET reads the route with its ETag; a missing one is a 404 problem', async () => {
    const res = await api.request('GET', '/v1/routes/acme/billing/prod');
    expect(res.status).toBe(200);
    expect(res.json<Route>()).toMatchObject({ url: 'https://billing-v2.acme.internal/api', revision: 2 });
    expect(res.headers['etag']).toBe('"2"');
    const missing = await api.request('GET', '/v1/routes/acme/billing/staging');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.json()).toMatchObject({ status: 404, title: 'Not Found', detail: 'route acme/billing/staging does not exist' });
  });

  it('If-Match: a stale revision gets 412 and changes nothing; the current one succeeds', async () => {
    const stale = await api.request('PUT', '/v1/routes/acme/billing/prod', {
      headers: { 'if-match': '"1"' },
      body: { url: 'https://stale.acme.internal' },
    });
    expect(stale.status).toBe(412);
    expect(stale.json()).toMatchObject({ status: 412, title: 'Precondition Failed' });
    const current = await api.request('PUT', '/v1/routes/acme/billing/prod', {
      headers: { 'if-match': '"2"' },
      body: { url: 'https://billing-v3.acme.internal' },
    });
    expect(current.status).toBe(200);
    expect(current.json<Route>().revision).toBe(3);
    const ifMatchMissing = await api.request('PUT', '/v1/routes/acme/billing/nowhere', {
      headers: { 'if-match': '*' },
      body: { url: 'https://x.acme.internal' },
    });
    expect(ifMatchMissing.status).toBe(412);
    expect((await api.request('GET', '/v1/routes/acme/billing/nowhere')).status).toBe(404);
  });

  it('If-None-Match: * creates only when absent', async () => {
    const exists = await api.request('PUT', '/v1/routes/acme/billing/prod', {
      headers: { 'if-none-match': '*' },
      body: { url: 'https://other.acme.internal' },
    });
    expect(exists.status).toBe(412);
    const created = await api.request('PUT', '/v1/routes/acme/billing/staging', {
      headers: { 'if-none-match': '*' },
      body: { url: 'https://staging.acme.internal' },
    });
    expect(created.status).toBe(201);
    expect(created.json<Route>().revision).toBe(4);
  });

  it('DELETE removes the route with a deleted event and answers 204 with the revision', async () => {
    const stale = await api.request('DELETE', '/v1/routes/acme/billing/staging', { headers: { 'if-match': '"1"' } });
    expect(stale.status).toBe(412);
    const res = await api.request('DELETE', '/v1/routes/acme/billing/staging', { headers: { 'if-match': '"4"' } });
    expect(res.status).toBe(204);
    expect(res.body).toBe('');
    expect(res.headers['x-route-revision']).toBe('5');
    const last = (await outbox()).pop();
    expect(last).toMatchObject({ revision: 5, route_key: 'acme/billing/staging', event_type: 'traffic-manager.route.deleted.v1' });
    expect(last?.payload['data']).toEqual({ tenant: 'acme', service: 'billing', environment: 'staging', url: null, revision: 5, endpoints: [], healthCheck: null });
    expect((await api.request('GET', '/v1/routes/acme/billing/staging')).status).toBe(404);
    const again = await api.request('DELETE', '/v1/routes/acme/billing/staging');
    expect(again.status).toBe(404);
  });

  it('a deleted route can be created again, at a newer revision', async () => {
    const res = await api.request('PUT', '/v1/routes/acme/billing/staging', { body: { url: 'https://staging2.acme.internal' } });
    expect(res.status).toBe(201);
    expect(res.json<Route>().revision).toBe(6);
  });

  it('lists in (tenant, service, environment) order, page by page, with filters', async () => {
    for (const [t, s, e] of [
      ['globex', 'api', 'prod'],
      ['globex', 'api', 'eu-canary'],
      ['acme', 'auth', 'prod'],
      ['acme', 'auth-v2', 'prod'],
    ] as const) {
      expect((await api.request('PUT', `/v1/routes/${t}/${s}/${e}`, { body: { url: `https://${s}.${t}.internal` } })).status).toBe(201);
    }
    const keys: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Awaited<ReturnType<typeof api.request>> = await api.request('GET', `/v1/routes?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const page = res.json<{ items: Route[]; nextCursor: string | null }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      keys.push(...page.items.map((r) => `${r.tenant}/${r.service}/${r.environment}`));
      cursor = page.nextCursor;
    } while (cursor);
    expect(keys).toEqual([
      'acme/auth/prod',
      'acme/auth-v2/prod',
      'acme/billing/prod',
      'acme/billing/staging',
      'globex/api/eu-canary',
      'globex/api/prod',
    ]);
    const filtered = await api.request('GET', '/v1/routes?tenant=acme&service=billing');
    expect(filtered.json<{ items: Route[] }>().items.map((r) => r.environment)).toEqual(['prod', 'staging']);
    const last = await api.request('GET', '/v1/routes?tenant=globex');
    expect(last.json<{ nextCursor: string | null }>().nextCursor).toBeNull();
  });

  it('every change took the next revision; every revision has exactly one outbox row', async () => {
    const events = await outbox();
    const { rows } = await api.db.query('SELECT revision::int FROM store_revision');
    const clock = (rows[0] as { revision: number }).revision;
    expect(events.map((e) => e.revision)).toEqual(Array.from({ length: clock }, (_, i) => i + 1));
    const ids = await api.db.query('SELECT count(DISTINCT event_id)::int AS n FROM outbox');
    expect(ids.rows[0]).toEqual({ n: clock });
  });

  it('every event carries its tenant by id: a tenant deleted and created again under its slug is another tenant', async () => {
    await api.request('PUT', '/v1/routes/reborn/web/prod', { body: { url: 'https://one.example' } });
    await api.request('PUT', '/v1/routes/reborn/web/prod', { body: { url: 'https://two.example' } });
    const first = (await api.db.query<{ id: string }>("SELECT id FROM tenants WHERE slug = 'reborn'")).rows[0]?.id;
    expect((await api.request('DELETE', '/v1/routes/reborn/web/prod')).status).toBe(204);
    expect((await api.request('DELETE', '/v1/tenants/reborn')).status).toBe(204);
    await api.request('PUT', '/v1/routes/reborn/web/prod', { body: { url: 'https://three.example' } });
    const second = (await api.db.query<{ id: string }>("SELECT id FROM tenants WHERE slug = 'reborn'")).rows[0]?.id;
    expect(second).not.toBe(first);
    const events = (await outbox()).filter((e) => e.route_key === 'reborn/web/prod');
    expect(events.map((e) => [e.event_type.split('.')[2], e.payload['tenantid']])).toEqual([
      ['upserted', first],
      ['upserted', first],
      ['deleted', first],
      ['upserted', second],
    ]);
  });
});
