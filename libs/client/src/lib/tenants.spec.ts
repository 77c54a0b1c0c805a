import { TrafficManagerClient } from './client';
import { answer, FakeServer, problem, readBody } from './fake-server.test-support';
import type { Tenant } from './tenants';

/** `client.tenant` and `client.updateTenant` (what `tm tenant` shows and sends) against a local server speaking the contract. */
let server: FakeServer;
let tm: TrafficManagerClient;
const bodies: unknown[] = [];

const acme: Tenant = { slug: 'acme', displayName: 'Acme', dns: false, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' };

beforeEach(async () => {
  server = await FakeServer.start();
  bodies.length = 0;
  tm = new TrafficManagerClient({ resolverUrl: server.url, commandUrl: server.url, apiKey: 'k1', watch: false, timeoutMs: 5000 });
});

afterEach(async () => {
  await tm.close();
  await server.close();
});

describe('client.tenant', () => {
  it('reads the tenant from the command API, null on 404; a bad slug is refused before anything is sent', async () => {
    server.on('/v1/tenants/acme', (_req, res) => answer(res, 200, acme));
    server.on('/v1/tenants/nobody', (_req, res) => problem(res, 404, 'Not Found', 'tenant nobody does not exist', { code: 'tenant_not_found' }));
    expect(await tm.tenant('acme')).toEqual(acme);
    expect(await tm.tenant('nobody')).toBeNull();
    expect(server.requests('/v1/tenants/acme')).toMatchObject([{ method: 'GET', headers: { authorization: 'Bearer k1' } }]);
    await expect(tm.tenant('Not/A/Slug')).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(server.requests('/v1/tenants/Not')).toEqual([]);
  });

  it('other failures throw with their code', async () => {
    server.on('/v1/tenants/acme', (_req, res) => problem(res, 403, 'Forbidden', 'the key may not read tenant acme'));
    await expect(tm.tenant('acme')).rejects.toMatchObject({ code: 'forbidden', status: 403 });
  });
});

describe('client.updateTenant', () => {
  it('PATCHes only the fields given (displayName null clears it) and returns the tenant', async () => {
    server.on('/v1/tenants/acme', (req, res) => {
      void readBody(req).then((body) => {
        bodies.push(body);
        answer(res, 200, { ...acme, ...(body as Partial<Tenant>), updatedAt: '2026-01-02T00:00:00.000Z' });
      });
    });
    expect(await tm.updateTenant('acme', { dns: true })).toEqual({ ...acme, dns: true, updatedAt: '2026-01-02T00:00:00.000Z' });
    expect(await tm.updateTenant('acme', { displayName: null, dns: undefined })).toMatchObject({ displayName: null, dns: false });
    await tm.updateTenant('acme', { displayName: 'Acme Inc.', dns: false });
    expect(bodies).toEqual([{ dns: true }, { displayName: null }, { displayName: 'Acme Inc.', dns: false }]);
    expect(server.requests('/v1/tenants/acme').map((r) => [r.method, r.headers['content-type'], r.headers['authorization']])).toEqual([
      ['PATCH', 'application/json', 'Bearer k1'],
      ['PATCH', 'application/json', 'Bearer k1'],
      ['PATCH', 'application/json', 'Bearer k1'],
    ]);
  });

  it('an unknown tenant throws not_found, a key that is not admin forbidden, a refused field bad_request with its errors', async () => {
    server.on('/v1/tenants/nobody', (_req, res) => problem(res, 404, 'Not Found', 'tenant nobody does not exist', { code: 'tenant_not_found' }));
    server.on('/v1/tenants/acme', (_req, res) => problem(res, 403, 'Forbidden', 'this needs the admin scope'));
    server.on('/v1/tenants/beta', (_req, res) =>
      problem(res, 400, 'Bad Request', 'the request is not valid; see errors', { code: 'validation', errors: [{ field: 'displayName', message: 'displayName must be 1 to 200 characters long' }] }),
    );
    await expect(tm.updateTenant('nobody', { dns: true })).rejects.toMatchObject({ code: 'not_found', status: 404 });
    await expect(tm.updateTenant('acme', { dns: true })).rejects.toMatchObject({ code: 'forbidden', status: 403 });
    await expect(tm.updateTenant('beta', { displayName: 'x'.repeat(201) })).rejects.toMatchObject({
      code: 'bad_request',
      errors: [{ field: 'displayName', message: 'displayName must be 1 to 200 characters long' }],
    });
  });

  it('refuses, before anything is sent, an update that changes nothing, a dns that is not a boolean, a display name that is not a string, and a bad slug', async () => {
    await expect(tm.updateTenant('acme', {})).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('displayName, dns or both') as string });
    await expect(tm.updateTenant('acme', { dns: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(tm.updateTenant('acme', { displayName: 7 as unknown as string })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(tm.updateTenant('acme', null as unknown as { dns: boolean })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(tm.updateTenant('ACME', { dns: true })).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(server.seen).toEqual([]);
  });

  it('a closed client throws closed', async () => {
    await tm.close();
    await expect(tm.updateTenant('acme', { dns: true })).rejects.toMatchObject({ code: 'closed' });
    await expect(tm.tenant('acme')).rejects.toMatchObject({ code: 'closed' });
  });
});
