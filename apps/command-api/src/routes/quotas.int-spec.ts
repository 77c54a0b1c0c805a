import { Client } from 'pg';
import { routeKey, type RouteId } from '@tm/contracts';
import { Gate } from '@tm/testing';
import { CommandApiUnderTest, snapshot, type Answer } from '../command-api.test-support';

/** A PUT body of `n` endpoints (the first `disabled` of them disabled), probed unless `probed` is false. */
function body(n: number, options: { disabled?: number; probed?: boolean; weight?: number } = {}): Record<string, unknown> {
  return {
    endpoints: Array.from({ length: n }, (_, i) => ({
      id: `e${i}`,
      url: `https://e${i}.example.internal`,
      ...(i < (options.disabled ?? 0) ? { state: 'disabled' } : {}),
      ...(options.weight !== undefined ? { weight: options.weight } : {}),
    })),
    ...(options.probed === false ? {} : { healthCheck: { path: '/healthz', intervalSeconds: 10 } }),
  };
}

/**
 * Tenant quotas of the command API (docs/guarantees.md, "Tenancy limits"): routes per tenant, probed
 * endpoints per tenant, and the probe timeout cap, with low limits set through the configuration.
 * Concurrent writes at the edge are forced: each is held after its decision (beforeApply) until the
 * test lets it go, and the first one is held inside its statement on the revision clock, which the
 * test's session locks, so that the second statement starts before the first commits.
 */
describe('tenant quotas', () => {
  let api: CommandApiUnderTest;
  let session: Client;
  const gates = new Map<string, Gate>();

  beforeAll(async () => {
    api = await CommandApiUnderTest.start({
      env: { TENANT_MAX_ROUTES: '3', TENANT_MAX_PROBED_ENDPOINTS: '4', PROBE_MAX_TIMEOUT_SECONDS: '3' },
      hooks: { beforeApply: async (route: RouteId) => gates.get(routeKey(route))?.pass() },
    });
    session = new Client({ connectionString: api.database.url });
    await session.connect();
  });
  afterAll(async () => {
    await session.end();
    await api.stop();
  });
  afterEach(() => gates.clear());

  const put = (route: string, payload: unknown, headers: Record<string, string> = {}): Promise<Answer> =>
    api.request('PUT', `/v1/routes/${route}`, { body: payload, headers });

  async function counts(tenant: string): Promise<{ routes: number; probed: number; recounted: { routes: number; probed: number } }> {
    const { rows } = await api.db.query<{ routes: number; probed: number; real_routes: number; real_probed: number }>(
      `SELECT t.route_count AS routes, t.probed_endpoint_count AS probed,
              (SELECT count(*)::int FROM endpoints e JOIN services s ON s.id = e.service_id WHERE s.tenant_id = t.id) AS real_routes,
              (SELECT COALESCE(sum(probed_endpoints(e.policy)), 0)::int FROM endpoints e JOIN services s ON s.id = e.service_id WHERE s.tenant_id = t.id) AS real_probed
         FROM tenants t WHERE t.slug = $1`,
      [tenant],
    );
    const row = rows[0];
    if (!row) throw new Error(`no tenant ${tenant}`);
    return { routes: row.routes, probed: row.probed, recounted: { routes: row.real_routes, probed: row.real_probed } };
  }

  /** Resolves once `n` other sessions of this database wait for a lock. */
  async function lockWaiters(n: number): Promise<void> {
    for (;;) {
      const { rows } = await api.db.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      );
      if (rows.length >= n) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Two writes decided together, then applied so that the second statement starts while the first
   * holds the tenant row uncommitted (it waits on the revision clock, which the session holds).
   */
  async function race(first: { route: string; send: () => Promise<Answer> }, second: { route: string; send: () => Promise<Answer> }): Promise<[Answer, Answer]> {
    const [a, b] = [new Gate(), new Gate()];
    gates.set(first.route, a);
    gates.set(second.route, b);
    const answers = [first.send(), second.send()] as const;
    await Promise.all([a.reached, b.reached]);
    await session.query('BEGIN');
    await session.query('SELECT revision FROM store_revision FOR UPDATE');
    a.open();
    await lockWaiters(1);
    b.open();
    await lockWaiters(2);
    await session.query('COMMIT');
    return Promise.all(answers);
  }

  function expectProblem(res: Answer, status: number, code: string): void {
    expect(res.status).toBe(status);
    expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status, type: `urn:traffic-manager:problem:${code}` });
  }

  async function refusals(limit: string, tenant: string): Promise<number> {
    const text = String((await api.request('GET', '/metrics', { token: null })).body);
    const line = text.split('\n').find((l) => l.startsWith('tm_quota_refusals_total{') && l.includes(`limit="${limit}"`) && l.includes(`tenant="${tenant}"`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  describe('routes per tenant (TENANT_MAX_ROUTES 3)', () => {
    it('at the limit a create is 409 tenant_route_quota with nothing written; an update still works; a delete frees a slot', async () => {
      for (const env of ['a', 'b', 'c']) expect((await put(`full/web/${env}`, { url: `https://${env}.full.internal` })).status).toBe(201);
      const before = await snapshot(api.db);
      const refused = await put('full/web/d', { url: 'https://d.full.internal' });
      expectProblem(refused, 409, 'tenant_route_quota');
      expect(refused.json<{ detail: string }>().detail).toMatch(/tenant full has 3 routes, its most \(TENANT_MAX_ROUTES 3\)/);
      // Nothing written: no revision taken, no outbox row, no service.
      expect(await snapshot(api.db)).toEqual(before);
      expectProblem(await put('full/api/d', { url: 'https://d.full.internal' }), 409, 'tenant_route_quota');
      expect(await refusals('routes', 'full')).toBe(2);

      const updated = await put('full/web/a', { url: 'https://a2.full.internal' });
      expect(updated.status).toBe(200);
      expect(updated.json()).toMatchObject({ url: 'https://a2.full.internal' });

      expect((await api.request('DELETE', '/v1/routes/full/web/b')).status).toBe(204);
      expect((await put('full/web/d', { url: 'https://d.full.internal' })).status).toBe(201);
      expect(await counts('full')).toEqual({ routes: 3, probed: 0, recounted: { routes: 3, probed: 0 } });
    });

    it('another tenant is not concerned', async () => {
      for (const env of ['a', 'b', 'c']) await put(`crowded/web/${env}`, { url: `https://${env}.crowded.internal` });
      expect((await put('roomy/web/a', { url: 'https://a.roomy.internal' })).status).toBe(201);
    });

    it('two concurrent creates of the last slot: exactly one wins', async () => {
      for (const env of ['a', 'b']) await put(`edge/web/${env}`, { url: `https://${env}.edge.internal` });
      const [first, second] = await race(
        { route: 'edge/web/c', send: () => put('edge/web/c', { url: 'https://c.edge.internal' }) },
        { route: 'edge/web/d', send: () => put('edge/web/d', { url: 'https://d.edge.internal' }) },
      );
      expect(first.status).toBe(201);
      expectProblem(second, 409, 'tenant_route_quota');
      expect((await api.request('GET', '/v1/routes/edge/web/d')).status).toBe(404);
      expect(await counts('edge')).toEqual({ routes: 3, probed: 0, recounted: { routes: 3, probed: 0 } });
      const { rows } = await api.db.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox WHERE route_key LIKE 'edge/%'");
      expect(rows[0]?.n).toBe(3);
    });

    it('deleting the tenant resets its count: created again, it starts empty', async () => {
      for (const env of ['a', 'b', 'c']) await put(`reborn/web/${env}`, { url: `https://${env}.reborn.internal` });
      expect((await api.request('DELETE', '/v1/tenants/reborn')).status).toBe(204);
      for (const env of ['x', 'y', 'z']) expect((await put(`reborn/web/${env}`, { url: `https://${env}.reborn.internal` })).status).toBe(201);
      expect(await counts('reborn')).toEqual({ routes: 3, probed: 0, recounted: { routes: 3, probed: 0 } });
    });
  });

  describe('probed endpoints per tenant (TENANT_MAX_PROBED_ENDPOINTS 4)', () => {
    it('a create beyond it is 409 tenant_probe_quota with nothing written; unprobed routes and disabled endpoints do not count', async () => {
      expect((await put('probes/web/a', body(3))).status).toBe(201);
      // 4 endpoints, 3 of them disabled: 1 probed.
      expect((await put('probes/web/b', body(4, { disabled: 3 }))).status).toBe(201);
      expect(await counts('probes')).toMatchObject({ routes: 2, probed: 4 });
      const before = await snapshot(api.db);
      const refused = await put('probes/web/c', body(1));
      expectProblem(refused, 409, 'tenant_probe_quota');
      expect(refused.json<{ detail: string }>().detail).toMatch(/tenant probes has 4 probed endpoints and this write would add 1, beyond its most \(TENANT_MAX_PROBED_ENDPOINTS 4\)/);
      expect(await snapshot(api.db)).toEqual(before);
      expect(await refusals('probed_endpoints', 'probes')).toBe(1);
      // Without a health check nothing is probed.
      expect((await put('probes/web/c', body(5, { probed: false }))).status).toBe(201);
      expect(await counts('probes')).toEqual({ routes: 3, probed: 4, recounted: { routes: 3, probed: 4 } });
    });

    it('a PUT that changes a probed route counts the difference', async () => {
      expect((await put('delta/web/a', body(3))).status).toBe(201);
      expect((await put('delta/web/b', body(1))).status).toBe(201);
      const before = await snapshot(api.db);
      // 3 -> 4 probed endpoints: one more than the room left (none).
      expectProblem(await put('delta/web/a', body(4)), 409, 'tenant_probe_quota');
      expect(await snapshot(api.db)).toEqual(before);
      // 3 -> 2: frees one; a weight change adds none; then another route can take the slot back.
      expect((await put('delta/web/a', body(2))).status).toBe(200);
      expect((await put('delta/web/a', body(2, { weight: 5 }))).status).toBe(200);
      expect((await put('delta/web/b', body(2))).status).toBe(200);
      expect(await counts('delta')).toEqual({ routes: 2, probed: 4, recounted: { routes: 2, probed: 4 } });
      // Disabling an endpoint frees its slot; enabling it again needs one.
      expect((await put('delta/web/b', body(2, { disabled: 1 }))).status).toBe(200);
      expect((await put('delta/web/a', body(3))).status).toBe(200);
      expectProblem(await put('delta/web/b', body(2)), 409, 'tenant_probe_quota');
      // Dropping the health check frees them all; the route's deletion frees its own.
      expect((await put('delta/web/a', body(3, { probed: false }))).status).toBe(200);
      expect(await counts('delta')).toMatchObject({ probed: 1 });
      expect((await api.request('DELETE', '/v1/routes/delta/web/b')).status).toBe(204);
      expect(await counts('delta')).toEqual({ routes: 1, probed: 0, recounted: { routes: 1, probed: 0 } });
    });

    it('a route whose probed endpoints alone are beyond it is refused, and no tenant is created for it', async () => {
      expect((await put('bigger/web/a', body(1))).status).toBe(201);
      const before = await snapshot(api.db);
      const refused = await put('toobig/web/a', body(5));
      expectProblem(refused, 409, 'tenant_probe_quota');
      expect(refused.json<{ detail: string }>().detail).toBe('this route alone has 5 probed endpoints, more than a tenant may have (TENANT_MAX_PROBED_ENDPOINTS 4)');
      expect(await snapshot(api.db)).toEqual(before);
      // The same in a tenant that exists.
      expectProblem(await put('bigger/web/b', body(5)), 409, 'tenant_probe_quota');
      expect(await snapshot(api.db)).toEqual(before);
    });

    it('two concurrent changes that each take the last slot: exactly one wins', async () => {
      expect((await put('pedge/web/a', body(2))).status).toBe(201);
      expect((await put('pedge/web/b', body(1))).status).toBe(201);
      // Conditional (If-Match: *): decided on the route as committed, then applied (the gate is between).
      const ifMatch = { 'if-match': '*' };
      const [first, second] = await race(
        { route: 'pedge/web/a', send: () => put('pedge/web/a', body(3), ifMatch) },
        { route: 'pedge/web/b', send: () => put('pedge/web/b', body(2), ifMatch) },
      );
      expect(first.status).toBe(200);
      expectProblem(second, 409, 'tenant_probe_quota');
      expect(await counts('pedge')).toEqual({ routes: 2, probed: 4, recounted: { routes: 2, probed: 4 } });
    });

    it('two concurrent creates that each take the last slots: exactly one wins', async () => {
      expect((await put('pnew/web/a', body(2))).status).toBe(201);
      const [first, second] = await race(
        { route: 'pnew/web/b', send: () => put('pnew/web/b', body(2)) },
        { route: 'pnew/web/c', send: () => put('pnew/web/c', body(2)) },
      );
      expect(first.status).toBe(201);
      expectProblem(second, 409, 'tenant_probe_quota');
      expect(await counts('pnew')).toEqual({ routes: 2, probed: 4, recounted: { routes: 2, probed: 4 } });
    });
  });

  describe('probe timeout cap (PROBE_MAX_TIMEOUT_SECONDS 3)', () => {
    const check = (timeoutSeconds?: number) => ({
      endpoints: [{ id: 'a', url: 'https://a.cap.internal' }],
      healthCheck: { intervalSeconds: 10, ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}) },
    });

    it('a timeout above the cap is a 400 naming healthCheck.timeoutSeconds, with nothing written', async () => {
      const before = await snapshot(api.db);
      const res = await put('cap/web/a', check(5));
      expectProblem(res, 400, 'validation');
      expect(res.json<{ errors: { field: string; message: string }[] }>().errors).toEqual([
        { field: 'healthCheck.timeoutSeconds', message: 'timeoutSeconds must not be above 3 (PROBE_MAX_TIMEOUT_SECONDS)' },
      ]);
      expect(await snapshot(api.db)).toEqual(before);
    });

    it('the default timeout is within the cap, and a timeout at the cap is taken', async () => {
      const res = await put('cap/web/b', check());
      expect(res.status).toBe(201);
      expect(res.json()).toMatchObject({ healthCheck: { intervalSeconds: 10, timeoutSeconds: 3 } });
      expect((await put('cap/web/c', check(3))).status).toBe(201);
    });

    it('a stored health check above the cap (an older write) is still read, and re-PUT unchanged; a new one above it is refused', async () => {
      expect((await put('cap/web/old', check(3))).status).toBe(201);
      // As a write from before the cap was lowered left it.
      await api.db.query(
        `UPDATE endpoints e SET policy = jsonb_set(e.policy, '{healthCheck,timeoutSeconds}', '8')
           FROM services s WHERE s.id = e.service_id AND s.name = 'web' AND e.environment = 'old'`,
      );
      const read = await api.request('GET', '/v1/routes/cap/web/old');
      expect(read.status).toBe(200);
      expect(read.json()).toMatchObject({ healthCheck: { timeoutSeconds: 8 } });
      const revision = read.json<{ revision: number }>().revision;

      const again = await put('cap/web/old', check(8));
      expect(again.status).toBe(200);
      expect(again.json()).toMatchObject({ revision, healthCheck: { timeoutSeconds: 8 } });
      // The same health check with other endpoints: the route's settings can still change.
      const moved = await put('cap/web/old', { ...check(8), endpoints: [{ id: 'a', url: 'https://a.cap.internal', weight: 3 }] });
      expect(moved.status).toBe(200);
      expect(moved.json<{ revision: number }>().revision).toBeGreaterThan(revision);
      // Another timeout above the cap is a new health check: refused.
      expectProblem(await put('cap/web/old', check(9)), 400, 'validation');
      // And on a route that does not have it.
      expectProblem(await put('cap/web/new', check(8)), 400, 'validation');
    });
  });
});
