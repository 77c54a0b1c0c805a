import { Client } from 'pg';
import { CommandApiUnderTest } from '../command-api.test-support';

/**
 * A write is decided on the route as committed, then applied only if the route is still in that
 * state (G1, G2). Forced here: between the decision and the statement that applies it (the
 * write path's beforeApply hook), a session of the test's own makes another write of the route
 * and holds it uncommitted; once the API's statement waits for that row, the session commits.
 */
describe('writes decided on a state that moved on', () => {
  let api: CommandApiUnderTest;
  let session: Client;
  const path = '/v1/routes/acme/web/prod';
  let n = 0;
  /** The other writes to make, one per decision, before it is applied; the decisions seen. */
  let interfere: string[] = [];
  let decisions: boolean[] = [];
  let held: (() => void)[] = [];

  beforeAll(async () => {
    api = await CommandApiUnderTest.start({
      hooks: {
        beforeApply: async (_route, locked) => {
          decisions.push(locked);
          const url = interfere.shift();
          if (url === undefined) return;
          await holdWrite(url);
          held.shift()?.();
        },
      },
    });
    session = new Client({ connectionString: api.database.url });
    await session.connect();
  });
  afterAll(async () => {
    await session.end();
    await api.stop();
  });
  beforeEach(async () => {
    interfere = [];
    held = [];
    const res = await api.request('PUT', path, { body: { url: `https://start${++n}.acme.internal` } });
    expect([200, 201]).toContain(res.status);
    decisions = [];
  });

  /** Resolves once the hook holds the next interfering write not yet waited for. */
  function nextHold(): Promise<void> {
    return new Promise((resolve) => held.push(resolve));
  }

  /** Lets the held write commit once the API's statement waits for its row; returns that statement. */
  async function commitWhenWaitedFor(hold: Promise<void>): Promise<string> {
    await hold;
    const query = await appWaitsForALock();
    await session.query('COMMIT');
    return query;
  }

  async function revision(): Promise<number> {
    return (await api.request('GET', path)).json<{ revision: number }>().revision;
  }

  /** Another writer's change of acme/web/prod, as the write path makes it, held uncommitted. */
  async function holdWrite(url: string): Promise<void> {
    await session.query('BEGIN');
    const { rows } = await session.query<{ revision: string }>(
      `WITH c AS (UPDATE store_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision, clock_timestamp() AS at)
       UPDATE endpoints e SET url = $1, revision = c.revision, updated_at = c.at
         FROM c, services s, tenants t
        WHERE s.id = e.service_id AND t.id = s.tenant_id AND t.slug = 'acme' AND s.name = 'web' AND e.environment = 'prod'
       RETURNING e.revision`,
      [url],
    );
    await session.query(
      `INSERT INTO outbox (event_id, route_key, event_type, payload, revision)
       VALUES (gen_random_uuid(), 'acme/web/prod', 'traffic-manager.route.upserted.v1', '{}', $1)`,
      [rows[0]?.revision],
    );
  }

  /** Waits until a backend of the app waits for a lock; returns the statement it waits in. */
  async function appWaitsForALock(): Promise<string> {
    for (;;) {
      const { rows } = await api.db.query<{ query: string }>(
        `SELECT query FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid NOT IN (pg_backend_pid(), $1)`,
        [(session as unknown as { processID: number }).processID],
      );
      if (rows[0]) return rows[0].query;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async function outboxIsContiguous(): Promise<void> {
    const { rows } = await api.db.query<{ clock: string; revisions: string[] }>(
      'SELECT (SELECT revision FROM store_revision) AS clock, (SELECT array_agg(revision ORDER BY revision) FROM outbox) AS revisions',
    );
    const clock = Number(rows[0]?.clock);
    expect((rows[0]?.revisions ?? []).map(Number)).toEqual(Array.from({ length: clock }, (_, i) => i + 1));
  }

  it('If-Match on the revision another write replaces meanwhile: 412, and the other write stands', async () => {
    const before = await revision();
    interfere = ['https://other.acme.internal'];
    const hold = nextHold();
    const put = api.request('PUT', path, { body: { url: 'https://mine.acme.internal' }, headers: { 'if-match': `"${before}"` } });
    expect(await commitWhenWaitedFor(hold)).toContain('WITH tl AS');
    const res = await put;
    expect(res.status).toBe(412);
    const now = (await api.request('GET', path)).json<{ url: string; revision: number }>();
    expect(now).toMatchObject({ url: 'https://other.acme.internal', revision: before + 1 });
    await outboxIsContiguous();
  });

  it('a DELETE with If-Match on the revision another write replaces meanwhile: 412, the route stays', async () => {
    const before = await revision();
    interfere = ['https://other2.acme.internal'];
    const hold = nextHold();
    const del = api.request('DELETE', path, { headers: { 'if-match': `"${before}"` } });
    expect(await commitWhenWaitedFor(hold)).toContain('WITH tl AS');
    expect((await del).status).toBe(412);
    expect((await api.request('GET', path)).json()).toMatchObject({ url: 'https://other2.acme.internal', revision: before + 1 });
    await outboxIsContiguous();
  });

  it('an unconditional PUT while another write of the route is in flight waits for it and applies on top, at the next revision', async () => {
    const before = await revision();
    await holdWrite('https://other3.acme.internal');
    const put = api.request('PUT', path, { body: { url: 'https://mine3.acme.internal' } });
    // Decided and applied in one statement: it waits for the row, then sees the other write.
    expect(await appWaitsForALock()).toContain('WITH tl AS');
    await session.query('COMMIT');
    const res = await put;
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ url: 'https://mine3.acme.internal', revision: before + 2 });
    expect(decisions).toEqual([]);
    await outboxIsContiguous();
  });

  it('an unconditional DELETE while another write of the route is in flight deletes what that write left', async () => {
    const before = await revision();
    await holdWrite('https://other4.acme.internal');
    const del = api.request('DELETE', path);
    await appWaitsForALock();
    await session.query('COMMIT');
    const res = await del;
    expect(res.status).toBe(204);
    expect(res.headers['x-route-revision']).toBe(String(before + 2));
    expect((await api.request('GET', path)).status).toBe(404);
    const { rows } = await api.db.query<{ revision: string; type: string }>(
      'SELECT revision, event_type AS type FROM outbox ORDER BY revision DESC LIMIT 2',
    );
    expect(rows.map((r) => [Number(r.revision), r.type])).toEqual([
      [before + 2, 'traffic-manager.route.deleted.v1'],
      [before + 1, 'traffic-manager.route.upserted.v1'],
    ]);
    await outboxIsContiguous();
  });

  it('a write that keeps losing queues for the route row lock after three tries, and then applies', async () => {
    const before = await revision();
    interfere = ['https://busy1.acme.internal', 'https://busy2.acme.internal', 'https://busy3.acme.internal'];
    const holds = [nextHold(), nextHold(), nextHold()];
    const put = api.request('PUT', path, { body: { url: 'https://patient.acme.internal' }, headers: { 'if-match': '*' } });
    for (const hold of holds) expect(await commitWhenWaitedFor(hold)).toContain('WITH tl AS');
    const res = await put;
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ url: 'https://patient.acme.internal', revision: before + 4 });
    // Three optimistic decisions lost; the fourth was made holding the row lock.
    expect(decisions).toEqual([false, false, false, true]);
    await outboxIsContiguous();
  });
});
