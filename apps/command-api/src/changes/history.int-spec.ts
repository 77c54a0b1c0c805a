import { CommandApiUnderTest, snapshot } from '../command-api.test-support';

interface HistoryPage {
  items: {
    revision: number;
    op: string;
    route: { url: string; revision: number } | null;
    by: unknown;
    requestId: string | null;
    changeSetSize: number | null;
    description: string | null;
  }[];
  nextCursor: string | null;
}

interface ChangeSetAnswer {
  revision: number;
  changes: { route: string; result: string }[];
}

/** History, change sets as read back, rollback and revert (docs/changes.md), through the HTTP API. */
describe('history, rollback and revert', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
  });
  afterAll(() => api.stop());

  const putUrl = (route: string, url: string, token?: string, headers: Record<string, string> = {}) =>
    api.request('PUT', `/v1/routes/${route}`, { body: { url }, token, headers });
  const apply = (changes: unknown[], description?: string, token?: string) =>
    api.request('POST', '/v1/changes', { body: { changes, ...(description ? { description } : {}) }, token });
  const history = async (route: string, query = '', token?: string): Promise<HistoryPage> => {
    const res = await api.request('GET', `/v1/routes/${route}/history${query}`, { token });
    expect(res.status).toBe(200);
    return res.json<HistoryPage>();
  };

  it("keeps every version of a route, newest first, with who, the request, the set's size and description, a page at a time", async () => {
    expect((await api.request('POST', '/v1/tenants', { body: { slug: 'hs' } })).status).toBe(201);
    const key = await api.createKey(['routes:write'], 'hs');
    const keyId = (await api.request('GET', '/v1/api-keys')).json<{ items: { id: string; tenant: string }[] }>().items.find((k) => k.tenant === 'hs')?.id;
    const created = await putUrl('hs/web/prod', 'https://v1.example.internal', key, { 'x-request-id': 'req-create-1' });
    const r1 = Number(created.headers['x-route-revision']);
    const set = (await apply([{ op: 'put', route: 'hs/web/prod', body: { url: 'https://v2.example.internal' } }, { op: 'put', route: 'hs/api/prod', body: { url: 'https://a.example.internal' } }], 'move web')).json<ChangeSetAnswer>();
    const deleted = await api.request('DELETE', '/v1/routes/hs/web/prod');
    const r3 = Number(deleted.headers['x-route-revision']);

    const page = await history('hs/web/prod');
    expect(page.items.map((i) => [i.revision, i.op, i.route?.url ?? null])).toEqual([
      [r3, 'delete', null],
      [set.revision, 'put', 'https://v2.example.internal'],
      [r1, 'put', 'https://v1.example.internal'],
    ]);
    expect(page.items[2]).toMatchObject({ by: { keyId, keyName: 'key-routes:write' }, requestId: 'req-create-1', changeSetSize: 1, description: null });
    expect(page.items[1]).toMatchObject({ by: { admin: true }, changeSetSize: 2, description: 'move web', route: { revision: set.revision } });

    const first = await history('hs/web/prod', '?limit=2');
    expect(first.items.map((i) => i.revision)).toEqual([r3, set.revision]);
    const rest = await history('hs/web/prod', `?limit=2&cursor=${first.nextCursor}`);
    expect(rest.items.map((i) => i.revision)).toEqual([r1]);
    expect(rest.nextCursor).toBeNull();
    expect((await api.request('GET', '/v1/routes/hs/web/prod/history?cursor=%21%21')).status).toBe(400);
    expect((await api.request('GET', '/v1/routes/hs/none/prod/history')).status).toBe(404);

    const view = await api.request('GET', `/v1/changes/${set.revision}`);
    expect(view.json()).toMatchObject({
      revision: set.revision,
      by: { admin: true },
      description: 'move web',
      changes: [
        { route: 'hs/api/prod', op: 'put', body: { url: 'https://a.example.internal' } },
        { route: 'hs/web/prod', op: 'put', body: { url: 'https://v2.example.internal' } },
      ],
    });
  });

  it('a change set shows a tenant-bound key only its tenant, and a tenant created again under a slug none of its predecessor', async () => {
    const set = (await apply([{ op: 'put', route: 'hx/web/prod', body: { url: 'https://x.example.internal' } }, { op: 'put', route: 'hy/web/prod', body: { url: 'https://y.example.internal' } }])).json<ChangeSetAnswer>();
    const xKey = await api.createKey(['routes:read'], 'hx');
    const view = await api.request('GET', `/v1/changes/${set.revision}`, { token: xKey });
    expect(view.json<{ changes: { route: string }[] }>().changes.map((c) => c.route)).toEqual(['hx/web/prod']);
    expect((await api.request('DELETE', '/v1/tenants/hx')).status).toBe(204);
    expect((await api.request('POST', '/v1/tenants', { body: { slug: 'hx' } })).status).toBe(201);
    const again = await api.createKey(['routes:write'], 'hx');
    expect((await api.request('GET', `/v1/changes/${set.revision}`, { token: again })).status).toBe(404);
    expect((await api.request('GET', '/v1/routes/hx/web/prod/history', { token: again })).status).toBe(404);
    expect((await api.request('POST', `/v1/changes/${set.revision}/revert`, { token: again })).status).toBe(404);
    // Even an admin's revert does not reach into the tenant created since under the slug: a conflict, nothing applied.
    const revert = await api.request('POST', `/v1/changes/${set.revision}/revert`);
    expect(revert.status).toBe(409);
    expect(revert.json<{ conflicts: { route: string }[] }>().conflicts.map((c) => c.route)).toEqual(['hx/web/prod']);
    expect((await api.request('GET', '/v1/changes/999999')).status).toBe(404);
    expect((await api.request('GET', '/v1/changes/abc')).status).toBe(400);
  });

  it('rollback makes the route what it was as of a revision, in a new change set; absent then: deleted', async () => {
    const r1 = Number((await putUrl('hr/web/prod', 'https://r1.example.internal')).headers['x-route-revision']);
    const r2 = Number((await putUrl('hr/web/prod', 'https://r2.example.internal')).headers['x-route-revision']);
    const back = await api.request('POST', '/v1/routes/hr/web/prod/rollback', { body: { toRevision: r1 } });
    expect(back.status).toBe(200);
    const answer = back.json<ChangeSetAnswer>();
    expect(answer.revision).toBeGreaterThan(r2);
    expect(answer.changes).toEqual([{ route: 'hr/web/prod', op: 'put', result: 'updated', revision: answer.revision }]);
    expect((await api.request('GET', '/v1/routes/hr/web/prod')).json<{ url: string }>().url).toBe('https://r1.example.internal');
    expect((await history('hr/web/prod')).items[0]).toMatchObject({ revision: answer.revision, description: `rollback of hr/web/prod to revision ${r1}` });

    const stale = await api.request('POST', '/v1/routes/hr/web/prod/rollback', { body: { toRevision: r2 }, headers: { 'if-match': `"${r2}"` } });
    expect(stale.status).toBe(412);
    const beyond = await api.request('POST', '/v1/routes/hr/web/prod/rollback', { body: { toRevision: 10_000_000 } });
    expect(beyond.status).toBe(412);
    const gone = await api.request('POST', '/v1/routes/hr/web/prod/rollback', { body: { toRevision: r1 - 1 } });
    expect(gone.status).toBe(200);
    expect(gone.json<ChangeSetAnswer>().changes[0]?.result).toBe('deleted');
    expect((await api.request('GET', '/v1/routes/hr/web/prod')).status).toBe(404);
    expect((await api.request('POST', '/v1/routes/hr/web/prod/rollback', { body: { toRevision: 0 } })).status).toBe(400);
  });

  it('rollback to before the kept history is a 410 with the oldest revision kept, and changes nothing', async () => {
    const r1 = Number((await putUrl('ho/web/prod', 'https://o1.example.internal')).headers['x-route-revision']);
    const r2 = Number((await putUrl('ho/web/prod', 'https://o2.example.internal')).headers['x-route-revision']);
    await putUrl('ho/web/prod', 'https://o3.example.internal');
    // Retention removed the oldest version.
    await api.db.query(`DELETE FROM route_versions WHERE tenant = 'ho' AND revision = $1`, [r1]);
    const before = await snapshot(api.db);
    const res = await api.request('POST', '/v1/routes/ho/web/prod/rollback', { body: { toRevision: r1 } });
    expect(res.status).toBe(410);
    expect(res.json()).toMatchObject({ oldestRevision: r2 });
    expect(await snapshot(api.db)).toEqual(before);
  });

  it('revert restores every route of a set to its state before it, in one new set; a route changed since is a 409 and nothing is applied', async () => {
    await apply([
      { op: 'put', route: 'hv/a/prod', body: { url: 'https://a0.example.internal' } },
      { op: 'put', route: 'hv/b/prod', body: { url: 'https://b0.example.internal' } },
    ]);
    const set = (
      await apply([
        { op: 'put', route: 'hv/a/prod', body: { url: 'https://a1.example.internal' } },
        { op: 'delete', route: 'hv/b/prod' },
        { op: 'put', route: 'hv/c/prod', body: { url: 'https://c1.example.internal' } },
      ])
    ).json<ChangeSetAnswer>();
    const reverted = await api.request('POST', `/v1/changes/${set.revision}/revert`);
    expect(reverted.status).toBe(201);
    expect(reverted.json<ChangeSetAnswer>().changes.map((c) => [c.route, c.result])).toEqual([
      ['hv/a/prod', 'updated'],
      ['hv/b/prod', 'created'],
      ['hv/c/prod', 'deleted'],
    ]);
    const urls = (await api.request('GET', '/v1/routes?tenant=hv')).json<{ items: { service: string; url: string }[] }>().items.map((r) => [r.service, r.url]);
    expect(urls).toEqual([
      ['a', 'https://a0.example.internal'],
      ['b', 'https://b0.example.internal'],
    ]);

    const again = await apply([
      { op: 'put', route: 'hv/a/prod', body: { url: 'https://a2.example.internal' } },
      { op: 'put', route: 'hv/d/prod', body: { url: 'https://d2.example.internal' } },
    ]);
    await putUrl('hv/a/prod', 'https://a3.example.internal');
    const before = await snapshot(api.db);
    const conflict = await api.request('POST', `/v1/changes/${again.json<ChangeSetAnswer>().revision}/revert`);
    expect(conflict.status).toBe(409);
    expect(conflict.json<{ conflicts: { route: string }[] }>().conflicts.map((c) => c.route)).toEqual(['hv/a/prod']);
    expect(await snapshot(api.db)).toEqual(before);
    expect((await api.request('POST', '/v1/changes/10000000/revert')).status).toBe(412);
  });
});
