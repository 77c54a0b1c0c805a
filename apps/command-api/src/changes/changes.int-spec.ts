import { CloudEvent } from 'cloudevents';
import { Client } from 'pg';
import { Gate } from '@tm/testing';
import { CommandApiUnderTest, snapshot, type Answer } from '../command-api.test-support';

interface ChangeSetAnswer {
  revision: number;
  changes: { route: string; op: string; result: string; revision: number | null }[];
}

interface Problem {
  status: number;
  code?: string;
  detail: string;
  errors?: { field: string; message: string }[];
  conflicts?: { route: string; expected: number | null; actual: number | null }[];
}

const put = (route: string, url: string, extra: Record<string, unknown> = {}) => ({ op: 'put', route, body: { url }, ...extra });

/**
 * Change sets (docs/changes.md): many routes at one revision, all or nothing, with compares; and the
 * interleavings that would break them, forced with the write path's beforeChangeSet hook.
 */
describe('change sets (POST /v1/changes)', () => {
  let api: CommandApiUnderTest;
  let session: Client;
  let gate: Gate | undefined;

  beforeAll(async () => {
    api = await CommandApiUnderTest.start({
      env: { CHANGESET_MAX_CHANGES: '5', CHANGESET_MAX_BYTES: '4096', TENANT_MAX_ROUTES: '6' },
      hooks: { beforeChangeSet: async () => gate?.pass() },
    });
    session = new Client({ connectionString: api.database.url });
    await session.connect();
  });
  afterAll(async () => {
    await session.end();
    await api.stop();
  });

  const apply = (changes: unknown[], options: { token?: string; description?: string } = {}): Promise<Answer> =>
    api.request('POST', '/v1/changes', { body: { changes, ...(options.description ? { description: options.description } : {}) }, token: options.token });

  async function revision(): Promise<number> {
    const { rows } = await api.db.query<{ revision: string }>('SELECT revision FROM store_revision');
    return Number(rows[0]?.revision);
  }

  it('applies puts and deletes of many routes at one revision, one event each in route-key order, with history', async () => {
    expect((await api.request('PUT', '/v1/routes/cs-a/old/prod', { body: { url: 'https://old.example.internal' } })).status).toBe(201);
    const before = await revision();
    const res = await apply(
      [put('cs-b/web/prod', 'https://b.example.internal'), put('cs-a/web/prod', 'https://a.example.internal'), { op: 'delete', route: 'cs-a/old/prod' }],
      { description: 'move web' },
    );
    expect(res.status).toBe(201);
    const answer = res.json<ChangeSetAnswer>();
    expect(answer.revision).toBe(before + 1);
    expect(answer.changes).toEqual([
      { route: 'cs-b/web/prod', op: 'put', result: 'created', revision: before + 1 },
      { route: 'cs-a/web/prod', op: 'put', result: 'created', revision: before + 1 },
      { route: 'cs-a/old/prod', op: 'delete', result: 'deleted', revision: before + 1 },
    ]);
    const { rows } = await api.db.query<{ revision: string; route_key: string; payload: Record<string, unknown> }>(
      'SELECT revision, route_key, payload FROM outbox WHERE revision = $1 ORDER BY id',
      [answer.revision],
    );
    expect(rows.map((r) => r.route_key)).toEqual(['cs-a/old/prod', 'cs-a/web/prod', 'cs-b/web/prod']);
    for (const row of rows) {
      const event = new CloudEvent(row.payload as never, true);
      expect(event.validate()).toBe(true);
      expect(row.payload).toMatchObject({ changesetsize: 3, data: { revision: answer.revision } });
    }
    expect(rows[1]?.payload).toMatchObject({ data: { url: 'https://a.example.internal', endpoints: [{ id: 'default', healthRevision: answer.revision }] } });
    const versions = await api.db.query('SELECT tenant, service, op, created FROM route_versions WHERE revision = $1 ORDER BY tenant, service', [answer.revision]);
    expect(versions.rows).toEqual([
      { tenant: 'cs-a', service: 'old', op: 'delete', created: false },
      { tenant: 'cs-a', service: 'web', op: 'put', created: true },
      { tenant: 'cs-b', service: 'web', op: 'put', created: true },
    ]);
    const sets = await api.db.query('SELECT by, description, size, tenants FROM change_sets WHERE revision = $1', [answer.revision]);
    expect(sets.rows).toEqual([{ by: { admin: true }, description: 'move web', size: 3, tenants: ['cs-a', 'cs-b'] }]);
  });

  it('an update keeps the health revision of an endpoint whose URL and health check stay', async () => {
    const first = await apply([{ op: 'put', route: 'cs-h/web/prod', body: { endpoints: [{ id: 'x', url: 'https://x.example.internal' }, { id: 'y', url: 'https://y.example.internal' }] } }]);
    const r1 = first.json<ChangeSetAnswer>().revision;
    const second = await apply([{ op: 'put', route: 'cs-h/web/prod', body: { endpoints: [{ id: 'x', url: 'https://x.example.internal', weight: 5 }, { id: 'y', url: 'https://y2.example.internal' }] } }]);
    const r2 = second.json<ChangeSetAnswer>().revision;
    const { rows } = await api.db.query<{ payload: { data: { endpoints: { id: string; healthRevision: number }[] } } }>('SELECT payload FROM outbox WHERE revision = $1', [r2]);
    expect(rows[0]?.payload.data.endpoints.map((e) => [e.id, e.healthRevision])).toEqual([
      ['x', r1],
      ['y', r2],
    ]);
  });

  it('a set of only unchanged changes commits nothing and answers the current revision', async () => {
    await apply([put('cs-n/web/prod', 'https://n.example.internal')]);
    const before = await snapshot(api.db);
    const res = await apply([put('cs-n/web/prod', 'https://n.example.internal'), { op: 'delete', route: 'cs-n/none/prod' }]);
    expect(res.status).toBe(200);
    expect(res.json<ChangeSetAnswer>()).toMatchObject({
      revision: await revision(),
      changes: [
        { route: 'cs-n/web/prod', result: 'unchanged' },
        { route: 'cs-n/none/prod', result: 'unchanged', revision: null },
      ],
    });
    expect(await snapshot(api.db)).toEqual(before);
  });

  it('a failed compare is a 412 that lists every conflict, and nothing is applied', async () => {
    const created = (await apply([put('cs-c/web/prod', 'https://c.example.internal')])).json<ChangeSetAnswer>().revision;
    const before = await snapshot(api.db);
    const res = await apply([
      put('cs-c/web/prod', 'https://c2.example.internal', { ifRevision: created - 1 }),
      put('cs-c/api/prod', 'https://c3.example.internal', { ifRevision: 7 }),
      put('cs-c/web/prod2', 'https://c4.example.internal', { ifAbsent: true }),
      { op: 'delete', route: 'cs-c/web/prod', ifRevision: created },
    ]);
    expect(res.status).toBe(400); // the same route twice: a bad set, before any compare
    const conflict = await apply([
      put('cs-c/web/prod', 'https://c2.example.internal', { ifRevision: created - 1 }),
      put('cs-c/api/prod', 'https://c3.example.internal', { ifRevision: 7 }),
      put('cs-c/new/prod', 'https://c4.example.internal', { ifAbsent: true }),
    ]);
    expect(conflict.status).toBe(412);
    expect(conflict.json<Problem>().conflicts).toEqual([
      { route: 'cs-c/api/prod', expected: 7, actual: null },
      { route: 'cs-c/web/prod', expected: created - 1, actual: created },
    ]);
    const absent = await apply([put('cs-c/web/prod', 'https://c5.example.internal', { ifAbsent: true }), put('cs-c/other/prod', 'https://c6.example.internal')]);
    expect(absent.status).toBe(412);
    expect(absent.json<Problem>().conflicts).toEqual([{ route: 'cs-c/web/prod', expected: null, actual: created }]);
    expect(await snapshot(api.db)).toEqual(before);
  });

  it('bad changes are a 400 naming each field by its index, and nothing is applied', async () => {
    const before = await snapshot(api.db);
    const res = await apply([
      put('cs-v/web/prod', 'https://v.example.internal'),
      put('cs-v/api/prod', 'ftp://v.example.internal'),
      { op: 'put', route: 'cs-v/x/prod', body: { url: 'https://x.example.internal', colour: 'red' } },
      { op: 'move', route: 'Not/A/Route' },
      put('cs-v/web/prod', 'https://v2.example.internal'),
    ]);
    expect(res.status).toBe(400);
    const fields = res.json<Problem>().errors?.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['changes[1].body.url', 'changes[2].body.colour', 'changes[3].op', 'changes[3].route', 'changes[4].route']));
    expect((await apply([])).status).toBe(400);
    const tooMany = await apply(Array.from({ length: 6 }, (_, i) => put(`cs-v/s${i}/prod`, 'https://v.example.internal')));
    expect(tooMany.status).toBe(400);
    expect(tooMany.json<Problem>().errors?.[0]?.field).toBe('changes');
    expect((await apply([{ op: 'delete', route: 'cs-v/web/prod', body: { url: 'https://v.example.internal' } }])).status).toBe(400);
    expect((await apply([put('cs-v/web/prod', 'https://v.example.internal')], { description: 'x'.repeat(501) })).status).toBe(400);
    // A body over CHANGESET_MAX_BYTES: 413, a problem.
    const large = await apply([put('cs-v/web/prod', `https://v.example.internal/${'p'.repeat(2000)}`), put('cs-v/api/prod', `https://v.example.internal/${'p'.repeat(2000)}`)]);
    expect(large.status).toBe(413);
    expect(large.headers['content-type']).toContain('application/problem+json');
    expect(await snapshot(api.db)).toEqual(before);
  });

  it('a tenant the key cannot write is a 403 naming it, and nothing is applied', async () => {
    expect((await api.request('POST', '/v1/tenants', { body: { slug: 'cs-k' } })).status).toBe(201);
    const key = await api.createKey(['routes:write'], 'cs-k');
    const before = await snapshot(api.db);
    const res = await apply([put('cs-k/web/prod', 'https://k.example.internal'), put('cs-other/web/prod', 'https://o.example.internal')], { token: key });
    expect(res.status).toBe(403);
    expect(res.json<Problem>().detail).toContain('cs-other');
    // The refusal is audited; nothing else changed.
    const { audit_log: audited, ...after } = await snapshot(api.db);
    expect(after).toEqual(Object.fromEntries(Object.entries(before).filter(([table]) => table !== 'audit_log')));
    expect(audited?.slice(before['audit_log']?.length)).toEqual([expect.objectContaining({ action: 'write-refused', tenant: 'cs-other' })]);
    const reader = await api.createKey(['routes:read'], 'cs-k');
    expect((await apply([put('cs-k/web/prod', 'https://k.example.internal')], { token: reader })).status).toBe(403);
  });

  it("a set beyond a tenant's route quota is a 409, and nothing is applied", async () => {
    const before = await snapshot(api.db);
    const res = await apply(Array.from({ length: 5 }, (_, i) => put(`cs-q/s${i}/prod`, 'https://q.example.internal')).concat());
    expect(res.status).toBe(201);
    const over = await apply([put('cs-q/t1/prod', 'https://q.example.internal'), put('cs-q/t2/prod', 'https://q.example.internal')]);
    expect(over.status).toBe(409);
    expect(over.json<Problem>().code).toBe('tenant_route_quota');
    // Deleting as many as it creates fits.
    const swap = await apply([put('cs-q/t1/prod', 'https://q.example.internal'), put('cs-q/t2/prod', 'https://q.example.internal'), { op: 'delete', route: 'cs-q/s0/prod' }]);
    expect(swap.status).toBe(201);
    expect(before).not.toEqual(await snapshot(api.db));
  });

  /** Resolves once a session of the test database waits for a lock (a write queued behind a held set). */
  async function someoneWaitsForALock(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await session.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
      if ((rows[0] as { n: number }).n > 0) return;
      if (Date.now() > deadline) throw new Error('no write waited for a lock');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Starts a set and holds it with its rows locked (beforeChangeSet) until the gate returned opens. */
  async function heldAfterItsLocks(changes: unknown[]): Promise<[Promise<Answer>, Gate]> {
    const held = new Gate();
    gate = held;
    const answer = apply(changes);
    await held.reached;
    gate = undefined;
    return [answer, held];
  }

  it('two overlapping sets in opposite key order: one waits for the other, neither deadlocks', async () => {
    await apply([put('cs-d/x/prod', 'https://x0.example.internal'), put('cs-d/y/prod', 'https://y0.example.internal')]);
    const [first, held] = await heldAfterItsLocks([put('cs-d/x/prod', 'https://x1.example.internal'), put('cs-d/y/prod', 'https://y1.example.internal')]);
    const second = apply([put('cs-d/y/prod', 'https://y2.example.internal'), put('cs-d/x/prod', 'https://x2.example.internal')]);
    await someoneWaitsForALock();
    held.open();
    const [a, b] = await Promise.all([first, second]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.json<ChangeSetAnswer>().revision).toBe(a.json<ChangeSetAnswer>().revision + 1);
    const route = await api.request('GET', '/v1/routes/cs-d/x/prod');
    expect(route.json<{ url: string }>().url).toBe('https://x2.example.internal');
  });

  it('a single-route PUT with If-Match racing a set on the same route waits, then is a 412', async () => {
    const r0 = (await apply([put('cs-r/web/prod', 'https://r0.example.internal')])).json<ChangeSetAnswer>().revision;
    const [set, held] = await heldAfterItsLocks([put('cs-r/web/prod', 'https://r1.example.internal'), put('cs-r/api/prod', 'https://r1.example.internal')]);
    const single = api.request('PUT', '/v1/routes/cs-r/web/prod', { body: { url: 'https://r2.example.internal' }, headers: { 'if-match': `"${r0}"` } });
    await someoneWaitsForALock();
    held.open();
    const [s, p] = await Promise.all([set, single]);
    expect(s.status).toBe(201);
    expect(p.status).toBe(412);
    const route = await api.request('GET', '/v1/routes/cs-r/web/prod');
    expect(route.json<{ url: string; revision: number }>()).toMatchObject({ url: 'https://r1.example.internal', revision: s.json<ChangeSetAnswer>().revision });
  });

  it('a reader between the commit of a set and its event sees all of it or none of it', async () => {
    await apply([put('cs-s/a/prod', 'https://a0.example.internal'), put('cs-s/b/prod', 'https://b0.example.internal')]);
    const [set, held] = await heldAfterItsLocks([put('cs-s/a/prod', 'https://a1.example.internal'), put('cs-s/b/prod', 'https://b1.example.internal')]);
    const during = await session.query("SELECT e.url FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = 'cs-s' ORDER BY s.name");
    held.open();
    const answer = (await set).json<ChangeSetAnswer>();
    const after = await session.query(
      "SELECT e.url, e.revision::int FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = 'cs-s' ORDER BY s.name",
    );
    expect(during.rows.map((r: { url: string }) => r.url)).toEqual(['https://a0.example.internal', 'https://b0.example.internal']);
    expect(after.rows).toEqual([
      { url: 'https://a1.example.internal', revision: answer.revision },
      { url: 'https://b1.example.internal', revision: answer.revision },
    ]);
  });
});
