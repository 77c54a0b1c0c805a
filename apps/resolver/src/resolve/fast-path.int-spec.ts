import { frontDoorOf, type FrontAnswer } from '@tm/platform';
import { ADMIN_TOKEN, ResolverUnderTest } from '../resolver.test-support';
import { listening } from '../watch/watch.test-support';
import { RESOLVE_ROUTE } from './resolve-fast-path';
import { ResolveService } from './resolve.service';

/**
 * The hit path without Nest (ResolveFastPath): it answers exactly what the controller answers, and
 * leaves every other case to it. The controller's answers are told apart by its call of
 * ResolveService.resolve (the fast path never makes one).
 */
describe('the resolve fast path', () => {
  let r: ResolverUnderTest;
  let reader: string;
  let controllerCalls: jest.SpyInstance;
  beforeAll(async () => {
    r = await ResolverUnderTest.start({ env: { RATE_LIMIT_PER_KEY: '5' }, rateLimitClock: () => 1_000_000 });
    reader = await r.createKey(['routes:read'], 'fast');
    const { data } = await r.write('fast/web/prod', 'https://web.fast.internal/');
    await r.feedHas(data.revision);
    await r.resolve('fast/web/prod'); // the miss that fills memory (with the admin token: not limited)
    controllerCalls = jest.spyOn(r.app.get(ResolveService), 'resolve');
  });
  afterAll(() => r.stop());
  beforeEach(() => controllerCalls.mockClear());

  it('answers a held route as the controller does: same status, body and headers', async () => {
    const viaController = await r.resolve('fast/web/prod', { headers: { 'x-min-revision': '0' } });
    expect(controllerCalls).toHaveBeenCalledTimes(1);
    const fast = await r.resolve('fast/web/prod');
    expect(controllerCalls).toHaveBeenCalledTimes(1);
    expect(fast.status).toBe(200);
    expect(fast.body).toEqual(viaController.body);
    for (const h of ['content-type', 'x-cache', 'x-route-revision', 'x-consistency-revision', 'cache-control', 'age']) {
      expect([h, fast.headers[h]]).toEqual([h, viaController.headers[h]]);
    }
    expect(fast.headers['x-request-id']).toEqual(expect.any(String));
    expect(fast.headers['x-request-id']).not.toEqual(viaController.headers['x-request-id']);
  });

  it('a stored key: its first request is verified by the controller, the next ones take the fast path and count against its limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await r.resolve('fast/web/prod', { token: reader })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    // The first (the key not yet trusted) reached the controller; the refused one its guard, which answered 429.
    expect(controllerCalls).toHaveBeenCalledTimes(1);
    const refused = await r.resolve('fast/web/prod', { token: reader });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'rate_limited' });
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
  });

  it('leaves the rest to the controller: a key of another tenant (403), no key (401), an unknown route (404), a query', async () => {
    const other = await r.createKey(['routes:read'], 'elsewhere');
    await r.resolve('elsewhere/x/prod', { token: other }); // trusted from now on
    expect((await r.resolve('fast/web/prod', { token: other })).status).toBe(403);
    expect((await r.app.inject({ method: 'GET', url: '/v1/resolve/fast/web/prod' })).statusCode).toBe(401);
    const missing = await r.resolve('fast/none/prod');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: 'route_not_found' });
    const affinity = await r.resolve('fast/web/prod', { query: 'affinity=user-1' });
    expect(affinity.status).toBe(200);
    // The 403 and the 401 came from the guard, before the controller's method; the 404 and the query from it.
    expect(controllerCalls).toHaveBeenCalledTimes(3);
  });

  it('answers on its socket before Fastify, with the request id given, counted in the HTTP metrics and the access line as every request', async () => {
    const base = await listening(r.app);
    const metric = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('tm_http_requests_total{') && l.includes(`route="${RESOLVE_ROUTE}"`) && l.includes('status="200"'));
      return Number(line?.split(' ').pop() ?? 0);
    };
    const before = await metric();
    // What the door reports of its answers (the access line and the metrics are made from it).
    const door = frontDoorOf(r.app.getHttpAdapter().getInstance())!;
    const reported: FrontAnswer[] = [];
    const answered = door.answered;
    door.answered = (a) => {
      reported.push(a);
      answered(a);
    };
    const viaController = await r.resolve('fast/web/prod', { headers: { 'x-min-revision': '0' } });
    const calls = controllerCalls.mock.calls.length;
    const res = await fetch(`${base}/v1/resolve/fast/web/prod`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-request-id': 'door-1' } });
    expect(res.status).toBe(200);
    expect(controllerCalls.mock.calls.length).toBe(calls);
    expect(await res.json()).toEqual(viaController.body);
    expect(res.headers.get('x-request-id')).toBe('door-1');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    for (const h of ['x-cache', 'x-route-revision', 'x-consistency-revision', 'cache-control']) expect([h, res.headers.get(h)]).toEqual([h, viaController.headers[h]]);
    // The controller's answer and the door's, both counted under the route's pattern.
    expect(await metric()).toBe(before + 2);
    door.answered = answered;
    expect(reported).toEqual([expect.objectContaining({ id: 'door-1', method: 'GET', url: '/v1/resolve/fast/web/prod', route: RESOLVE_ROUTE, status: 200 })]);
    // A trailing slash and an encoded name are Fastify's: it answers them as it always did.
    expect((await fetch(`${base}/v1/resolve/fast/web/prod/`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(404);
    expect((await fetch(`${base}/v1/resolve/fast/w%65b/prod`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
    expect(controllerCalls.mock.calls.length).toBe(calls + 1);
  });
});
