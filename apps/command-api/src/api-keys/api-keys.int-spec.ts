import { createHash } from 'node:crypto';
import { ADMIN_TOKEN, CommandApiUnderTest } from '../command-api.test-support';

describe('API keys (command API, real PostgreSQL)', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
    await api.request('POST', '/v1/tenants', { body: { slug: 'acme' } });
  });
  afterAll(() => api.stop());

  it('shows the secret once and stores only its hash', async () => {
    const res = await api.request('POST', '/v1/api-keys', { body: { name: 'deployer', tenant: 'acme', scopes: ['routes:write'] } });
    expect(res.status).toBe(201);
    const created = res.json<{ id: string; key: string; name: string; tenant: string; scopes: string[]; revokedAt: null }>();
    expect(created).toMatchObject({ name: 'deployer', tenant: 'acme', scopes: ['routes:write'], revokedAt: null });
    expect(created.key).toMatch(/^tm_[0-9a-f]{20}_[A-Za-z0-9_-]{43}$/);
    const secret = created.key.split('_').slice(2).join('_');
    const { rows } = await api.db.query('SELECT * FROM api_keys WHERE id = $1', [created.id]);
    const stored = JSON.stringify(rows[0]);
    expect(stored).not.toContain(secret);
    expect((rows[0] as { secret_hash: Buffer }).secret_hash.equals(createHash('sha256').update(secret).digest())).toBe(true);
    const list = await api.request('GET', '/v1/api-keys');
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(list.json<{ items: { id: string }[] }>().items.map((k) => k.id)).toContain(created.id);
  });

  it('a created key authenticates; a revoked one stops at once (401); revoking twice is 404', async () => {
    const res = await api.request('POST', '/v1/api-keys', { body: { name: 'temp', tenant: 'acme', scopes: ['routes:read'] } });
    const { id, key } = res.json<{ id: string; key: string }>();
    expect((await api.request('GET', '/v1/tenants/acme', { token: key })).status).toBe(200);
    expect((await api.request('DELETE', `/v1/api-keys/${id}`)).status).toBe(204);
    const after = await api.request('GET', '/v1/tenants/acme', { token: key });
    expect(after.status).toBe(401);
    expect(after.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await api.request('DELETE', `/v1/api-keys/${id}`)).status).toBe(404);
    const listed = (await api.request('GET', '/v1/api-keys')).json<{ items: { id: string; revokedAt: string | null }[] }>();
    expect(listed.items.find((k) => k.id === id)?.revokedAt).not.toBeNull();
  });

  it('a key with a tampered secret, or no key at all, is 401 with WWW-Authenticate', async () => {
    const key = await api.createKey(['routes:read'], 'acme');
    const tampered = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    for (const token of [tampered, 'not-a-key', `${ADMIN_TOKEN}x`]) {
      const res = await api.request('GET', '/v1/tenants', { token });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    const none = await api.request('GET', '/v1/tenants', { token: null });
    expect(none.status).toBe(401);
    expect(none.json()).toMatchObject({ status: 401, title: 'Unauthorized' });
  });

  it('only admins manage keys', async () => {
    const writer = await api.createKey(['routes:write', 'routes:read'], 'acme');
    expect((await api.request('GET', '/v1/api-keys', { token: writer })).status).toBe(403);
    expect((await api.request('POST', '/v1/api-keys', { token: writer, body: { name: 'x', scopes: ['admin'] } })).status).toBe(403);
    const admin = await api.createKey(['admin']);
    expect((await api.request('GET', '/v1/api-keys', { token: admin })).status).toBe(200);
  });

  it('refuses a key for an unknown tenant (404) and an admin key bound to a tenant (400)', async () => {
    expect((await api.request('POST', '/v1/api-keys', { body: { name: 'x', tenant: 'nobody', scopes: ['routes:read'] } })).status).toBe(404);
    const bound = await api.request('POST', '/v1/api-keys', { body: { name: 'x', tenant: 'acme', scopes: ['admin'] } });
    expect(bound.status).toBe(400);
    expect(bound.json()).toMatchObject({ errors: [{ field: 'scopes' }] });
  });
});
