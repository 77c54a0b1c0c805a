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
    expect(one.json()).toMatchObject({ slug: 'hooli', displayName: null, dns: false });
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

  describe('DNS and display name (PATCH)', () => {
    interface Tenant {
      slug: string;
      displayName: string | null;
      dns: boolean;
      createdAt: string;
      updatedAt: string;
    }
    interface AuditItem {
      action: string;
      tenant: string | null;
      by: unknown;
      requestId: string | null;
      clientAddress: string | null;
      revision?: number;
      detail: Record<string, unknown>;
    }
    const auditOf = async (tenant: string, action: string): Promise<AuditItem[]> => {
      const res = await api.request('GET', `/v1/audit?tenant=${tenant}&action=${action}`);
      expect(res.status).toBe(200);
      return res.json<{ items: AuditItem[] }>().items;
    };
    /** The store's revision and outbox: a tenant update moves neither. */
    const store = async (): Promise<unknown> =>
      (await api.db.query('SELECT (SELECT revision::int FROM store_revision) AS revision, (SELECT count(*)::int FROM outbox) AS outbox, (SELECT count(*)::int FROM change_sets) AS sets')).rows[0];

    it('a tenant is closed to DNS by default, in every body; POST may open it', async () => {
      const created = await api.request('POST', '/v1/tenants', { body: { slug: 'dns-default' } });
      expect(created.status).toBe(201);
      expect(created.json()).toMatchObject({ slug: 'dns-default', dns: false });
      const open = await api.request('POST', '/v1/tenants', { body: { slug: 'dns-open', displayName: 'Open', dns: true } });
      expect(open.status).toBe(201);
      expect(open.json()).toMatchObject({ slug: 'dns-open', displayName: 'Open', dns: true });
      expect((await api.request('GET', '/v1/tenants/dns-open')).json()).toMatchObject({ dns: true });
      const list = (await api.request('GET', '/v1/tenants')).json<{ items: Tenant[] }>().items;
      expect(list.filter((t) => t.slug.startsWith('dns-')).map((t) => [t.slug, t.dns])).toEqual([
        ['dns-default', false],
        ['dns-open', true],
      ]);
      // A tenant created by a route PUT is closed too.
      await api.request('PUT', '/v1/routes/dns-by-put/web/prod', { body: { url: 'https://web.example.internal' } });
      expect((await api.request('GET', '/v1/tenants/dns-by-put')).json()).toMatchObject({ dns: false });
      expect((await auditOf('dns-open', 'tenant-created'))[0]?.detail).toEqual({ displayName: 'Open', dns: true });
      expect((await api.request('POST', '/v1/tenants', { body: { slug: 'dns-bad', dns: 'yes' } })).json()).toMatchObject({ status: 400, errors: [{ field: 'dns' }] });
    });

    it('opens and closes a tenant to DNS, sets and clears its display name: 200 with the tenant, updatedAt moved, one audit row each, no revision', async () => {
      const created = (await api.request('POST', '/v1/tenants', { body: { slug: 'patchy', displayName: 'Patchy' } })).json<Tenant>();
      const before = await store();
      // The database's own time, to the microsecond (a body's is to the millisecond).
      const stamp = async (): Promise<string> => (await api.db.query<{ t: string }>(`SELECT updated_at::text AS t FROM tenants WHERE slug = 'patchy'`)).rows[0]?.t ?? '';
      const createdStamp = await stamp();

      const opened = await api.request('PATCH', '/v1/tenants/patchy', { body: { dns: true }, headers: { 'x-request-id': 'req-open' } });
      expect(opened.status).toBe(200);
      const on = opened.json<Tenant>();
      expect(on).toMatchObject({ slug: 'patchy', displayName: 'Patchy', dns: true, createdAt: created.createdAt });
      expect(Date.parse(on.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));
      const openedStamp = await stamp();
      expect((await api.db.query(`SELECT $1::timestamptz > $2::timestamptz AS later`, [openedStamp, createdStamp])).rows).toEqual([{ later: true }]);
      expect((await api.request('GET', '/v1/tenants/patchy')).json()).toEqual(on);

      const renamed = await api.request('PATCH', '/v1/tenants/patchy', { body: { displayName: 'Patchy Inc.' } });
      expect(renamed.json()).toMatchObject({ displayName: 'Patchy Inc.', dns: true });
      const cleared = await api.request('PATCH', '/v1/tenants/patchy', { body: { displayName: null } });
      expect(cleared.status).toBe(200);
      expect(cleared.json()).toMatchObject({ displayName: null, dns: true });
      const closed = await api.request('PATCH', '/v1/tenants/patchy', { body: { displayName: 'Patchy', dns: false } });
      expect(closed.json()).toMatchObject({ displayName: 'Patchy', dns: false });
      expect((await api.db.query(`SELECT display_name, dns FROM tenants WHERE slug = 'patchy'`)).rows).toEqual([{ display_name: 'Patchy', dns: false }]);

      const items = await auditOf('patchy', 'tenant-updated');
      expect(items.map((i) => i.detail)).toEqual([
        { displayName: { from: null, to: 'Patchy' }, dns: { from: true, to: false } },
        { displayName: { from: 'Patchy Inc.', to: null } },
        { displayName: { from: 'Patchy', to: 'Patchy Inc.' } },
        { dns: { from: false, to: true } },
      ]);
      expect(items[3]).toMatchObject({ action: 'tenant-updated', tenant: 'patchy', by: { admin: true }, requestId: 'req-open', clientAddress: expect.any(String) });
      expect(items[3]?.revision).toBeUndefined();
      // No revision, no outbox row, no change set.
      expect(await store()).toEqual(before);
    });

    it('a PATCH that changes nothing answers 200 with the tenant, leaves updatedAt and writes no audit row', async () => {
      const created = (await api.request('POST', '/v1/tenants', { body: { slug: 'steady', dns: true } })).json<Tenant>();
      const stamp = async (): Promise<unknown> => (await api.db.query(`SELECT updated_at::text AS t FROM tenants WHERE slug = 'steady'`)).rows;
      const before = await stamp();
      for (const body of [{ dns: true }, { displayName: null }, { displayName: null, dns: true }]) {
        const res = await api.request('PATCH', '/v1/tenants/steady', { body });
        expect({ body, status: res.status }).toEqual({ body, status: 200 });
        expect(res.json()).toEqual(created);
      }
      expect(await stamp()).toEqual(before);
      expect(await auditOf('steady', 'tenant-updated')).toEqual([]);
    });

    it('is for admins only: 403 for a tenant-bound key that may write routes, and for an audit:read key, each audited as write-refused', async () => {
      await api.request('POST', '/v1/tenants', { body: { slug: 'guarded' } });
      const writer = await api.createKey(['routes:write'], 'guarded');
      const auditor = await api.createKey(['audit:read']);
      for (const token of [writer, auditor]) {
        const res = await api.request('PATCH', '/v1/tenants/guarded', { token, body: { dns: true } });
        expect(res.status).toBe(403);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
      expect((await api.request('GET', '/v1/tenants/guarded')).json()).toMatchObject({ dns: false });
      expect(await auditOf('guarded', 'tenant-updated')).toEqual([]);
      // Filed under the key's own tenant (none for the unbound auditor), naming the tenant aimed at.
      const refused = await auditOf('guarded', 'write-refused');
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ tenant: 'guarded', by: { keyName: 'key-routes:write' }, detail: { method: 'PATCH', route: '/v1/tenants/:tenant', target: 'guarded' } });
      const all = (await api.request('GET', '/v1/audit?action=write-refused')).json<{ items: AuditItem[] }>().items;
      expect(all.filter((i) => i.detail['method'] === 'PATCH').map((i) => [i.tenant, i.by, i.detail['target']])).toEqual([
        [null, expect.objectContaining({ keyName: 'key-audit:read' }), 'guarded'],
        ['guarded', expect.objectContaining({ keyName: 'key-routes:write' }), 'guarded'],
      ]);
      expect((await api.request('PATCH', '/v1/tenants/guarded', { token: null, body: { dns: true } })).status).toBe(401);
    });

    it('an unknown tenant is 404 tenant_not_found', async () => {
      const res = await api.request('PATCH', '/v1/tenants/nobody-here', { body: { dns: true } });
      expect(res.status).toBe(404);
      expect(res.json()).toMatchObject({ status: 404, code: 'tenant_not_found' });
    });

    it.each([
      ['an unknown field', { dns: true, owner: 'x' }, 'owner'],
      ['dns not a boolean', { dns: 'true' }, 'dns'],
      ['dns null', { dns: null }, 'dns'],
      ['displayName not a string', { displayName: 7 }, 'displayName'],
      ['displayName empty', { displayName: '' }, 'displayName'],
      ['displayName over 200 characters', { displayName: 'x'.repeat(201) }, 'displayName'],
      ['displayName with a control character', { displayName: 'a\u0007b' }, 'displayName'],
      ['neither field', {}, 'displayName'],
    ])('%s is a 400 naming the field, nothing changed', async (_what, body, field) => {
      await api.request('POST', '/v1/tenants', { body: { slug: 'strict' } });
      const res = await api.request('PATCH', '/v1/tenants/strict', { body });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = res.json<{ code: string; errors: { field: string; message: string }[] }>();
      expect(problem).toMatchObject({ code: 'validation' });
      expect(problem.errors.map((e) => e.field)).toContain(field);
      expect((await api.request('GET', '/v1/tenants/strict')).json()).toMatchObject({ displayName: null, dns: false });
      expect(await auditOf('strict', 'tenant-updated')).toEqual([]);
    });

    it('says what a body with neither field lacks; a bad slug is a 400 too', async () => {
      await api.request('POST', '/v1/tenants', { body: { slug: 'empty-patch' } });
      const res = await api.request('PATCH', '/v1/tenants/empty-patch', { body: {} });
      expect(res.json()).toMatchObject({ status: 400, detail: expect.stringContaining('displayName, dns or both'), errors: [{ field: 'displayName', message: 'displayName or dns is required' }] });
      expect((await api.request('PATCH', '/v1/tenants/Not_A_Slug', { body: { dns: true } })).status).toBe(400);
    });
  });
});
