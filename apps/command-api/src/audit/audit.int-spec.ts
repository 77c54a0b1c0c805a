import { CommandApiUnderTest } from '../command-api.test-support';
import { HistoryRetention, KEPT_VERSIONS } from './retention';

interface AuditPage {
  items: { at: string; action: string; tenant: string | null; by: unknown; requestId: string | null; clientAddress: string | null; revision?: number; detail: Record<string, unknown> }[];
  nextCursor: string | null;
}

/** The audit log (docs/changes.md, "Audit") and the retention of history and audit, through the HTTP API. */
describe('audit log', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
  });
  afterAll(() => api.stop());

  const audit = async (query: string, token?: string): Promise<AuditPage> => {
    const res = await api.request('GET', `/v1/audit${query}`, { token });
    expect(res.status).toBe(200);
    return res.json<AuditPage>();
  };

  it('records tenant, key and change-set events and refused writes, newest first, with who, the request and the client address', async () => {
    expect((await api.request('POST', '/v1/tenants', { body: { slug: 'au' }, headers: { 'x-request-id': 'req-tenant' } })).status).toBe(201);
    const key = await api.createKey(['routes:write'], 'au');
    const put = await api.request('PUT', '/v1/routes/au/web/prod', { body: { url: 'https://au.example.internal' }, token: key, headers: { 'x-request-id': 'req-put' } });
    const refused = await api.request('PUT', '/v1/routes/other/web/prod', { body: { url: 'https://o.example.internal' }, token: key });
    expect(refused.status).toBe(403);
    const refusedSet = await api.request('POST', '/v1/changes', { body: { changes: [{ op: 'delete', route: 'elsewhere/web/prod' }] }, token: key });
    expect(refusedSet.status).toBe(403);

    const page = await audit('?tenant=au');
    expect(page.items.map((i) => i.action)).toEqual(['write-refused', 'write-refused', 'change-set', 'key-created', 'tenant-created']);
    expect(page.items[2]).toMatchObject({ tenant: 'au', requestId: 'req-put', revision: Number(put.headers['x-route-revision']), detail: { size: 1 }, by: { keyName: 'key-routes:write' } });
    expect(page.items[2]?.clientAddress).toEqual(expect.any(String));
    expect(page.items[4]).toMatchObject({ tenant: 'au', requestId: 'req-tenant', by: { admin: true } });
    expect(JSON.stringify(page)).not.toContain(key);

    // Refusals are the key's tenant's events, naming the tenant aimed at: that tenant's log shows nothing of the key.
    const refusals = await audit('?action=write-refused&tenant=au');
    expect(refusals.items.map((i) => i.detail['target'])).toEqual(['elsewhere', 'other']);
    expect(refusals.items[1]).toMatchObject({ tenant: 'au', detail: { method: 'PUT', reason: expect.stringContaining('other') } });
    expect((await audit('?tenant=other')).items).toEqual([]);
  });

  it('files a change set of two tenants under each, with its own slug', async () => {
    const set = await api.request('POST', '/v1/changes', {
      body: { changes: ['am-a', 'am-b', 'am-c', 'am-d'].map((t) => ({ op: 'put', route: `${t}/web/prod`, body: { url: 'https://am.example.internal' } })) },
    });
    const revision = set.json<{ revision: number }>().revision;
    for (const t of ['am-a', 'am-b', 'am-c', 'am-d']) {
      const items = (await audit(`?tenant=${t}&action=change-set`)).items;
      expect(items.map((i) => [i.tenant, i.revision])).toEqual([[t, revision]]);
    }
  });

  it('shows an audit:read key its own tenant only, by id: a tenant created again under the slug sees none of its predecessor', async () => {
    await api.request('PUT', '/v1/routes/ar/web/prod', { body: { url: 'https://ar.example.internal' } });
    await api.request('PUT', '/v1/routes/as/web/prod', { body: { url: 'https://as.example.internal' } });
    const reader = await api.createKey(['audit:read'], 'ar');
    const own = await audit('', reader);
    expect(new Set(own.items.map((i) => i.tenant))).toEqual(new Set(['ar']));
    expect((await api.request('GET', '/v1/audit?tenant=as', { token: reader })).status).toBe(403);
    const writer = await api.createKey(['routes:write'], 'ar');
    expect((await api.request('GET', '/v1/audit', { token: writer })).status).toBe(403);

    expect((await api.request('DELETE', '/v1/tenants/ar')).status).toBe(204);
    expect((await api.request('POST', '/v1/tenants', { body: { slug: 'ar' } })).status).toBe(201);
    const successor = await api.createKey(['audit:read'], 'ar');
    expect((await audit('', successor)).items.map((i) => i.action)).toEqual(['key-created', 'tenant-created']);
    // An admin still finds the predecessor's events, under the slug they were recorded with.
    expect((await audit('?action=tenant-deleted')).items.find((i) => i.tenant === 'ar')).toBeDefined();
  });

  it('filters by time and action, and pages with a cursor', async () => {
    const start = new Date().toISOString();
    for (let i = 0; i < 5; i++) await api.request('PUT', `/v1/routes/ap/s${i}/prod`, { body: { url: 'https://ap.example.internal' } });
    const all = await audit(`?tenant=ap&since=${encodeURIComponent(start)}&action=change-set`);
    expect(all.items).toHaveLength(5);
    const first = await audit(`?tenant=ap&since=${encodeURIComponent(start)}&limit=3`);
    const rest = await audit(`?tenant=ap&since=${encodeURIComponent(start)}&limit=3&cursor=${first.nextCursor}`);
    // The tenant the first PUT created is an event too (recorded once the PUT committed).
    const paged = [...first.items, ...rest.items];
    expect(paged.filter((i) => i.action === 'change-set').map((i) => i.revision)).toEqual(all.items.map((i) => i.revision));
    expect(paged.filter((i) => i.action === 'tenant-created').map((i) => i.revision)).toEqual([all.items[4]?.revision]);
    expect(rest.nextCursor).toBeNull();
    expect((await audit(`?tenant=ap&until=${encodeURIComponent(start)}`)).items).toEqual([]);
    expect((await api.request('GET', '/v1/audit?since=yesterday')).status).toBe(400);
    expect((await api.request('GET', '/v1/audit?action=everything')).status).toBe(400);
    expect((await api.request('GET', '/v1/audit?cursor=xyz')).status).toBe(400);
  });

  it("retention removes versions past HISTORY_RETENTION_DAYS but a route's last 100, and audit rows past AUDIT_RETENTION_DAYS", async () => {
    const { rows } = await api.db.query<{ id: string }>(`INSERT INTO tenants (slug) VALUES ('rt') RETURNING id`);
    const tenantId = rows[0]?.id;
    // 150 versions of one route, all older than 90 days; one old version of another route; recent versions of a third.
    await api.db.query(
      `INSERT INTO route_versions (tenant_id, tenant, service, environment, revision, at, op, body)
       SELECT $1::uuid, 'rt', 'many', 'prod', 1000000 + n, now() - interval '200 days' + n * interval '1 minute', 'put', '{"url": "https://x.internal"}'::jsonb
         FROM generate_series(1, 150) n
       UNION ALL SELECT $1::uuid, 'rt', 'one', 'prod', 2000000, now() - interval '200 days', 'put', '{"url": "https://x.internal"}'::jsonb
       UNION ALL SELECT $1::uuid, 'rt', 'new', 'prod', 3000000 + n, now(), 'put', '{"url": "https://x.internal"}'::jsonb FROM generate_series(1, 150) n`,
      [tenantId],
    );
    await api.db.query(
      `INSERT INTO change_sets (revision, at, by, size, tenant_ids, tenants) VALUES (4000000, now() - interval '500 days', '{"admin": true}', 1, ARRAY[$1::uuid], ARRAY['rt']),
                                                                                  (4000001, now() - interval '10 days', '{"admin": true}', 1, ARRAY[$1::uuid], ARRAY['rt'])`,
      [tenantId],
    );
    await api.db.query(`INSERT INTO audit_log (action, tenant_id, tenant, at) VALUES ('tenant-updated', $1, 'rt', now() - interval '500 days'), ('tenant-updated', $1, 'rt', now())`, [tenantId]);

    await api.app.get(HistoryRetention).prune();
    const kept = await api.db.query<{ service: string; n: number; oldest: string }>(
      `SELECT service, count(*)::int AS n, min(revision)::text AS oldest FROM route_versions WHERE tenant = 'rt' GROUP BY service ORDER BY service`,
    );
    expect(kept.rows).toEqual([
      { service: 'many', n: KEPT_VERSIONS, oldest: String(1000000 + 150 - KEPT_VERSIONS + 1) },
      { service: 'new', n: 150, oldest: '3000001' },
      { service: 'one', n: 1, oldest: '2000000' },
    ]);
    const sets = await api.db.query(`SELECT revision::int FROM change_sets WHERE revision >= 4000000 ORDER BY revision`);
    expect(sets.rows).toEqual([{ revision: 4000001 }]);
    const left = await api.db.query(`SELECT count(*)::int AS n FROM audit_log WHERE tenant = 'rt'`);
    expect(left.rows).toEqual([{ n: 1 }]);
  });
});
