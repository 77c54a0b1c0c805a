import { TrafficManagerClient } from './client';
import { TrafficManagerError } from './errors';
import { answer, FakeServer, problem, readBody, resolved } from './fake-server.test-support';

/**
 * The SDK's side of change sets, history, rollback, revert and propagation, against a local server
 * that answers as the contract says (docs/changes.md; the propagation status is checked here until
 * the command API serves it).
 */
let server: FakeServer;
let tm: TrafficManagerClient;
const bodies: unknown[] = [];

const propagation = (revision: number, status: 'pending' | 'in-sync') => ({
  revision,
  committedAt: '2026-01-01T00:00:00.000Z',
  status,
  published: status === 'in-sync',
  cacheApplied: status === 'in-sync',
  resolvers: [{ replica: 'r1', feedRevision: status === 'in-sync' ? revision : revision - 1, seenAt: '2026-01-01T00:00:00.000Z', live: true }],
  checkedAt: '2026-01-01T00:00:00.000Z',
});

beforeEach(async () => {
  server = await FakeServer.start();
  bodies.length = 0;
  tm = new TrafficManagerClient({ resolverUrl: server.url, commandUrl: server.url, apiKey: 'k', watch: false });
});

afterEach(async () => {
  await tm.close();
  await server.close();
});

describe('client.apply and session.apply', () => {
  it('posts one change set with its compares and description, and the session reads at least its revision next', async () => {
    server.on('/v1/changes', (req, res) => {
      void readBody(req).then((body) => {
        bodies.push(body);
        answer(res, 201, {
          revision: 12,
          changes: [
            { route: 'acme/api/prod', op: 'put', result: 'created', revision: 12 },
            { route: 'acme/old/prod', op: 'delete', result: 'deleted', revision: null },
          ],
        });
      });
    });
    server.on('/v1/resolve/', (req, res) => resolved(res, 'acme/api/prod', 'https://a.example', 12, Number(req.headers['x-min-revision'] ?? 0)));
    const session = tm.session();
    const result = await session.apply(
      [
        { op: 'put', route: 'acme/api/prod', body: { url: 'https://a.example' }, ifAbsent: true },
        { op: 'delete', route: { tenant: 'acme', service: 'old', environment: 'prod' }, ifRevision: 7 },
      ],
      { description: 'move api' },
    );
    expect(result).toEqual({
      revision: 12,
      changes: [
        { route: 'acme/api/prod', op: 'put', result: 'created', revision: 12 },
        { route: 'acme/old/prod', op: 'delete', result: 'deleted', revision: null },
      ],
    });
    expect(bodies).toEqual([
      {
        changes: [
          { op: 'put', route: 'acme/api/prod', body: { url: 'https://a.example' }, ifAbsent: true },
          { op: 'delete', route: 'acme/old/prod', ifRevision: 7 },
        ],
        description: 'move api',
      },
    ]);
    expect(server.requests('/v1/changes')[0]).toMatchObject({ method: 'POST', url: '/v1/changes' });
    expect(server.requests('/v1/changes')[0]?.headers['authorization']).toBe('Bearer k');
    expect(session.revision).toBe(12);
    await session.resolve('acme/api/prod');
    expect(server.requests('/v1/resolve/')[0]?.headers['x-min-revision']).toBe('12');
  });

  it('with wait, asks for ?wait=in-sync and hands over the propagation', async () => {
    server.on('/v1/changes', (_req, res) => answer(res, 200, { revision: 5, changes: [{ route: 'acme/api/prod', op: 'put', result: 'updated', revision: 5 }], propagation: propagation(5, 'in-sync') }));
    const result = await tm.apply([{ op: 'put', route: 'acme/api/prod', body: { url: 'https://b.example' } }], { wait: true, waitTimeoutMs: 2000 });
    expect(server.requests('/v1/changes')[0]?.url).toBe('/v1/changes?wait=in-sync&waitTimeoutMs=2000');
    expect(result.propagation).toEqual(propagation(5, 'in-sync'));
  });

  it('a failed compare is a conflict that lists its routes; a bad change a bad_request that names its fields', async () => {
    server.on('/v1/changes', (req, res) => {
      void readBody(req).then((body) => {
        const changes = (body as { changes: unknown[] }).changes;
        if (changes.length === 1) {
          problem(res, 412, 'Precondition Failed', '1 change(s) compared against a state the route is no longer in; nothing was applied', {
            code: 'precondition_failed',
            conflicts: [{ route: 'acme/api/prod', expected: 3, actual: 4 }],
          });
        } else {
          problem(res, 400, 'Bad Request', 'the change set is not valid; see errors (nothing was applied)', {
            code: 'validation',
            errors: [{ field: 'changes[1].body.endpoints.0.weight', message: 'weight must be a whole number from 0 to 1000' }],
          });
        }
      });
    });
    const conflict = await tm.apply([{ op: 'put', route: 'acme/api/prod', body: { url: 'https://b.example' }, ifRevision: 3 }]).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(TrafficManagerError);
    expect(conflict).toMatchObject({ code: 'conflict', status: 412, conflicts: [{ route: 'acme/api/prod', expected: 3, actual: 4 }] });
    const bad = await tm
      .apply([
        { op: 'delete', route: 'acme/a/prod' },
        { op: 'put', route: 'acme/b/prod', body: { endpoints: [{ id: 'x', url: 'https://x.example', weight: 5000 }] } },
      ])
      .catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'bad_request', status: 400, errors: [{ field: 'changes[1].body.endpoints.0.weight', message: 'weight must be a whole number from 0 to 1000' }] });
    expect((bad as TrafficManagerError).message).toContain('weight must be a whole number from 0 to 1000');
  });

  it('refuses what it can tell is wrong before sending: no changes, a bad route, a bad URL, a bad compare', async () => {
    await expect(tm.apply([])).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(tm.apply([{ op: 'delete', route: 'acme/API/prod' }])).rejects.toMatchObject({ code: 'invalid_route' });
    await expect(tm.apply([{ op: 'put', route: 'acme/a/prod', body: { url: 'ftp://x' } }])).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('changes[0].body') });
    await expect(tm.apply([{ op: 'delete', route: 'acme/a/prod', ifRevision: 0 }])).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(server.requests('/v1/changes')).toEqual([]);
  });
});

describe('history, change sets, rollback and revert', () => {
  it('reads a page of history with its limit and cursor, and a change set (null when there is none)', async () => {
    const item = { revision: 9, at: '2026-01-01T00:00:00.000Z', op: 'delete', route: null, by: { admin: true }, requestId: 'r9', changeSetSize: 2, description: 'drain' };
    server.on('/v1/routes/acme/api/prod/history', (_req, res) => answer(res, 200, { items: [item], nextCursor: 'c2' }));
    server.on('/v1/changes/9', (_req, res) => answer(res, 200, { revision: 9, at: item.at, by: { admin: true }, requestId: 'r9', description: 'drain', changes: [{ route: 'acme/api/prod', op: 'delete', body: null }] }));
    server.on('/v1/changes/10', (_req, res) => problem(res, 404, 'Not Found', 'there is no change set at revision 10 this key may see', { code: 'change_set_not_found' }));
    expect(await tm.history('acme/api/prod', { limit: 1, cursor: 'c1' })).toEqual({ items: [item], nextCursor: 'c2' });
    expect(server.requests('/v1/routes/acme/api/prod/history')[0]?.url).toBe('/v1/routes/acme/api/prod/history?limit=1&cursor=c1');
    expect(await tm.changeSet(9)).toMatchObject({ revision: 9, changes: [{ route: 'acme/api/prod', op: 'delete', body: null }] });
    expect(await tm.changeSet(10)).toBeNull();
    await expect(tm.history('acme/api/prod', { limit: 0 })).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('rolls back with If-Match and toRevision; a revision past the kept history is history_gone', async () => {
    server.on('/v1/routes/acme/api/prod/rollback', (req, res) => {
      void readBody(req).then((body) => {
        bodies.push(body);
        if ((body as { toRevision: number }).toRevision === 1) {
          problem(res, 410, 'Gone', 'the kept history does not reach that revision; the oldest kept is 4', { code: 'history_gone', oldestRevision: 4 });
        } else {
          answer(res, 200, { revision: 20, changes: [{ route: 'acme/api/prod', op: 'put', result: 'updated', revision: 20 }] });
        }
      });
    });
    const session = tm.session();
    const result = await tm.run(session, () => tm.rollback('acme/api/prod', 6, { ifRevision: 19 }));
    expect(result.revision).toBe(20);
    expect(session.revision).toBe(20);
    expect(bodies[0]).toEqual({ toRevision: 6 });
    expect(server.requests('/v1/routes/acme/api/prod/rollback')[0]?.headers['if-match']).toBe('"19"');
    const gone = await tm.rollback('acme/api/prod', 1).catch((e: unknown) => e);
    expect(gone).toMatchObject({ code: 'history_gone', status: 410, problem: { oldestRevision: 4 } });
  });

  it('reverts a change set; routes changed since are a conflict (409) with their list', async () => {
    server.on('/v1/changes/7/revert', (_req, res) => answer(res, 200, { revision: 21, changes: [{ route: 'acme/api/prod', op: 'delete', result: 'deleted', revision: null }] }));
    server.on('/v1/changes/8/revert', (_req, res) =>
      problem(res, 409, 'Conflict', '1 route(s) changed since; nothing was applied', { code: 'conflict', conflicts: [{ route: 'acme/api/prod', expected: 8, actual: null }] }),
    );
    expect(await tm.revert(7)).toMatchObject({ revision: 21 });
    expect(server.requests('/v1/changes/7/revert')[0]?.method).toBe('POST');
    await expect(tm.revert(8)).rejects.toMatchObject({ code: 'conflict', status: 409, conflicts: [{ route: 'acme/api/prod', expected: 8, actual: null }] });
  });
});

describe('propagation', () => {
  it('status reads a revision once; with wait it asks again until the revision is in sync', async () => {
    let asked = 0;
    server.on('/v1/revisions/30', (_req, res) => {
      asked++;
      answer(res, 200, propagation(30, asked >= 3 ? 'in-sync' : 'pending'));
    });
    expect(await tm.status(30)).toMatchObject({ revision: 30, status: 'pending' });
    expect(await tm.status(30, { wait: true, waitTimeoutMs: 30_000 })).toMatchObject({ status: 'in-sync' });
    expect(asked).toBe(3);
  });

  it('status with wait gives the last pending answer when the wait runs out, and fails on a revision beyond the store', async () => {
    server.on('/v1/revisions/31', (_req, res) => answer(res, 200, propagation(31, 'pending')));
    server.on('/v1/revisions/99', (_req, res) => problem(res, 412, 'Precondition Failed', 'revision 99 is beyond the store', { code: 'revision_beyond_store' }));
    expect(await tm.status(31, { wait: true, waitTimeoutMs: 50 })).toMatchObject({ status: 'pending' });
    expect(server.requests('/v1/revisions/31').length).toBeGreaterThanOrEqual(1);
    await expect(tm.status(99, { wait: true })).rejects.toMatchObject({ code: 'conflict', status: 412 });
  });

  it('a put and a delete with wait ask for ?wait=in-sync; the delete reads its revision from its 200 body', async () => {
    const route = { tenant: 'acme', service: 'api', environment: 'prod', url: 'https://a.example', revision: 40, createdAt: 'x', updatedAt: 'x' };
    server.on('/v1/routes/acme/api/prod', (req, res) => {
      if (req.method === 'PUT') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-route-revision': '40' });
        res.end(JSON.stringify({ ...route, propagation: propagation(40, 'in-sync') }));
      } else answer(res, 200, { revision: 41, propagation: propagation(41, 'pending') });
    });
    const session = tm.session();
    const written = await session.put('acme/api/prod', { url: 'https://a.example' }, { wait: true });
    expect(written.propagation?.status).toBe('in-sync');
    expect(await session.delete('acme/api/prod', { wait: true, waitTimeoutMs: 100 })).toBe(true);
    expect(session.revision).toBe(41);
    expect(server.requests('/v1/routes/acme/api/prod').map((r) => `${r.method} ${r.url}`)).toEqual([
      'PUT /v1/routes/acme/api/prod?wait=in-sync',
      'DELETE /v1/routes/acme/api/prod?wait=in-sync&waitTimeoutMs=100',
    ]);
  });
});
