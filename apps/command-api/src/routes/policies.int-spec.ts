import { CloudEvent } from 'cloudevents';
import { parseRouteEvent, type PolicyEndpoint, type RouteEventData } from '@tm/contracts';
import { CommandApiUnderTest } from '../command-api.test-support';

const ROUTE = '/v1/routes/acme/checkout/prod';
const BLUE = 'https://blue.checkout.acme.internal';
const GREEN = 'https://green.checkout.acme.internal';
const SPARE = 'https://spare.checkout.acme.internal';

const CHECK = { path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 };

/** A multi-endpoint policy as a user would write it (defaults left out where they apply). */
function policy(overrides: { blueWeight?: number; green?: string; check?: Record<string, unknown> | null; spare?: boolean } = {}) {
  return {
    endpoints: [
      { id: 'blue', url: BLUE, priority: 1, weight: overrides.blueWeight ?? 3 },
      { id: 'green', url: overrides.green ?? GREEN, weight: 1 },
      ...(overrides.spare === false ? [] : [{ id: 'spare', url: SPARE, priority: 2, weight: 0, state: 'draining' }]),
    ],
    ...(overrides.check === null ? {} : { healthCheck: overrides.check ?? CHECK }),
  };
}

describe('traffic policies (command API, real PostgreSQL)', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
  });
  afterAll(() => api.stop());

  async function events(): Promise<{ revision: number; payload: { data: RouteEventData } }[]> {
    const { rows } = await api.db.query("SELECT revision::int, payload FROM outbox WHERE route_key = 'acme/checkout/prod' ORDER BY revision");
    return rows;
  }
  async function lastEndpoints(): Promise<Record<string, PolicyEndpoint>> {
    const last = (await events()).pop();
    return Object.fromEntries((last?.payload.data.endpoints ?? []).map((e) => [e.id, e]));
  }
  const revisionOf = (id: string, endpoints: Record<string, PolicyEndpoint>) => endpoints[id]?.healthRevision;

  it('PUT of a policy: 201, the policy with every default filled in, url the first choice', async () => {
    const res = await api.request('PUT', ROUTE, { body: policy() });
    expect(res.status).toBe(201);
    expect(res.json()).toMatchObject({
      url: BLUE,
      endpoints: [
        { id: 'blue', url: BLUE, priority: 1, weight: 3, state: 'enabled' },
        { id: 'green', url: GREEN, priority: 1, weight: 1, state: 'enabled' },
        { id: 'spare', url: SPARE, priority: 2, weight: 0, state: 'draining' },
      ],
      healthCheck: { type: 'http', path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2, expectedStatus: '200-299' },
      revision: 1,
    });
    const get = await api.request('GET', ROUTE);
    expect(get.json()).toEqual(res.json());
    const list = await api.request('GET', '/v1/routes?tenant=acme');
    expect(list.json<{ items: unknown[] }>().items).toEqual([res.json()]);
  });

  it('the event carries the whole policy beside url, with each endpoint health revision, and is a valid CloudEvent', async () => {
    const [row] = await events();
    const payload = row?.payload as unknown as Record<string, unknown>;
    expect(new CloudEvent(payload as never, true).validate()).toBe(true);
    expect(parseRouteEvent(JSON.stringify(payload))).toHaveProperty('event');
    expect(row?.payload.data).toEqual({
      tenant: 'acme',
      service: 'checkout',
      environment: 'prod',
      url: BLUE,
      revision: 1,
      endpoints: [
        { id: 'blue', url: BLUE, priority: 1, weight: 3, state: 'enabled', healthRevision: 1 },
        { id: 'green', url: GREEN, priority: 1, weight: 1, state: 'enabled', healthRevision: 1 },
        { id: 'spare', url: SPARE, priority: 2, weight: 0, state: 'draining', healthRevision: 1 },
      ],
      healthCheck: { type: 'http', path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2, expectedStatus: '200-299' },
    });
  });

  it('an unchanged PUT changes nothing, whatever the order of its fields and defaults spelled out', async () => {
    const spelled = {
      healthCheck: { ...CHECK, type: 'http', expectedStatus: '200-299' },
      endpoints: [
        { weight: 3, url: BLUE, id: 'blue', state: 'enabled' },
        { id: 'green', url: GREEN, priority: 1, weight: 1 },
        { id: 'spare', url: SPARE, priority: 2, weight: 0, state: 'draining' },
      ],
    };
    const res = await api.request('PUT', ROUTE, { body: spelled });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ revision: 1 });
    const conditional = await api.request('PUT', ROUTE, { body: spelled, headers: { 'if-match': '"1"' } });
    expect(conditional.json()).toMatchObject({ revision: 1 });
    expect((await events()).map((e) => e.revision)).toEqual([1]);
  });

  it('a weight or state change keeps every health revision; a URL change starts that endpoint anew', async () => {
    const weight = await api.request('PUT', ROUTE, { body: policy({ blueWeight: 1 }) });
    expect(weight.json()).toMatchObject({ revision: 2, url: BLUE });
    let endpoints = await lastEndpoints();
    expect([revisionOf('blue', endpoints), revisionOf('green', endpoints), revisionOf('spare', endpoints)]).toEqual([1, 1, 1]);

    const repointed = await api.request('PUT', ROUTE, { body: policy({ blueWeight: 1, green: 'https://green2.checkout.acme.internal' }), headers: { 'if-match': '"2"' } });
    expect(repointed.json()).toMatchObject({ revision: 3 });
    endpoints = await lastEndpoints();
    expect([revisionOf('blue', endpoints), revisionOf('green', endpoints), revisionOf('spare', endpoints)]).toEqual([1, 3, 1]);
  });

  it('an endpoint removed and added again starts anew; a changed health check starts every endpoint anew', async () => {
    await api.request('PUT', ROUTE, { body: policy({ blueWeight: 1, green: 'https://green2.checkout.acme.internal', spare: false }) });
    expect(await lastEndpoints()).not.toHaveProperty('spare');
    await api.request('PUT', ROUTE, { body: policy({ blueWeight: 1, green: 'https://green2.checkout.acme.internal' }) });
    let endpoints = await lastEndpoints();
    expect([revisionOf('blue', endpoints), revisionOf('green', endpoints), revisionOf('spare', endpoints)]).toEqual([1, 3, 5]);

    await api.request('PUT', ROUTE, { body: policy({ blueWeight: 1, green: 'https://green2.checkout.acme.internal', check: { ...CHECK, path: '/ready' } }) });
    endpoints = await lastEndpoints();
    expect([revisionOf('blue', endpoints), revisionOf('green', endpoints), revisionOf('spare', endpoints)]).toEqual([6, 6, 6]);
  });

  it('{"url"} makes the route one endpoint named default again; the same as endpoints [{id: default}] spelled out', async () => {
    const res = await api.request('PUT', ROUTE, { body: { url: GREEN } });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({
      url: GREEN,
      endpoints: [{ id: 'default', url: GREEN, priority: 1, weight: 1, state: 'enabled' }],
      healthCheck: null,
      revision: 7,
    });
    const spelled = await api.request('PUT', ROUTE, { body: { endpoints: [{ id: 'default', url: GREEN }] } });
    expect(spelled.json()).toMatchObject({ revision: 7 });
    const { rows } = await api.db.query("SELECT policy FROM endpoints WHERE environment = 'prod' AND url = $1", [GREEN]);
    expect(rows).toEqual([{ policy: null }]);
    const [, ...rest] = (await events()).reverse();
    expect(rest.length).toBe(6);
  });

  it('a URL with a health check is one probed endpoint; the url is the first choice, enabled before draining, never null', async () => {
    const probed = await api.request('PUT', '/v1/routes/acme/checkout/staging', { body: { url: BLUE, healthCheck: { type: 'tcp', intervalSeconds: 5 } } });
    expect(probed.json()).toMatchObject({
      url: BLUE,
      endpoints: [{ id: 'default', url: BLUE }],
      healthCheck: { type: 'tcp', intervalSeconds: 5, timeoutSeconds: 5, healthyThreshold: 2, unhealthyThreshold: 3 },
    });
    expect(probed.json<{ healthCheck: object }>().healthCheck).not.toHaveProperty('path');
    const drained = await api.request('PUT', '/v1/routes/acme/checkout/dev', {
      body: {
        endpoints: [
          { id: 'a', url: BLUE, state: 'disabled' },
          { id: 'b', url: GREEN, state: 'draining', priority: 1 },
          { id: 'c', url: SPARE, weight: 0, priority: 9 },
        ],
      },
    });
    expect(drained.json()).toMatchObject({ url: SPARE });
    const off = await api.request('PUT', '/v1/routes/acme/checkout/dev', { body: { endpoints: [{ id: 'a', url: BLUE, state: 'disabled' }] } });
    expect(off.json()).toMatchObject({ url: BLUE, endpoints: [{ id: 'a', state: 'disabled' }] });
  });

  it('a policy of 16 endpoints with long URLs fits the 64 KiB of a route PUT', async () => {
    const endpoints = Array.from({ length: 16 }, (_, i) => ({ id: `e${i}`, url: `https://e${i}.acme.internal/${'p'.repeat(2000)}`, priority: 1 + (i % 4), weight: i }));
    const body = JSON.stringify({ endpoints, healthCheck: CHECK });
    expect(body.length).toBeGreaterThan(16 * 1024);
    const res = await api.request('PUT', '/v1/routes/acme/checkout/big', { raw: body, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(201);
    expect(res.json<{ endpoints: unknown[] }>().endpoints).toHaveLength(16);
  });

  it('an older command API that changes only the URL (a rolling upgrade) drops the policy it does not know', async () => {
    await api.request('PUT', ROUTE, { body: policy() });
    await api.db.query(
      `UPDATE endpoints SET url = $1 WHERE environment = 'prod' AND service_id = (SELECT id FROM services WHERE name = 'checkout')`,
      ['https://old-writer.acme.internal'],
    );
    const res = await api.request('GET', ROUTE);
    expect(res.json()).toMatchObject({ url: 'https://old-writer.acme.internal', endpoints: [{ id: 'default', url: 'https://old-writer.acme.internal' }], healthCheck: null });
  });
});
