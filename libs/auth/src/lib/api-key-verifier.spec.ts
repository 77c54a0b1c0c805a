import type { DataSource } from 'typeorm';
import { ApiKeyVerifier, AuthOptions } from './api-key-verifier';
import * as keys from './keys';
import { generateApiKey, tokenDigest } from './keys';
import { OutageCredentials, type RememberedPrincipal } from './outage-credentials';

const ADMIN = 'admin-token-0123456789abcdef';

/** A DataSource whose api_keys table is `rows`, counting queries; a query resolves when released. */
function fakeDatabase() {
  const rows = new Map<string, { id: string; name: string; secret_hash: Buffer; scopes: string[]; revoked_at: Date | null; tenant: string | null; tenant_id: string | null }>();
  const db = {
    rows,
    queries: 0,
    hold: false,
    held: [] as (() => void)[],
    /** An error every query fails with (the database unreachable, overloaded). */
    failWith: undefined as Error | undefined,
    dataSource: {
      driver: {},
      query: async (sql: string, [lookup]: [string | string[]]) => {
        db.queries += 1;
        if (db.failWith) throw db.failWith;
        if (db.hold) await new Promise<void>((r) => db.held.push(r));
        // stillValid: the ids of the given keys that are not revoked.
        if (Array.isArray(lookup)) return [...rows.values()].filter((r) => lookup.includes(r.id) && r.revoked_at === null).map((r) => ({ id: r.id }));
        if (!sql.includes('lookup')) throw new Error(`unexpected query ${sql}`);
        const row = rows.get(lookup);
        return row ? [row] : [];
      },
    } as unknown as DataSource,
  };
  return db;
}

function verifier(db: ReturnType<typeof fakeDatabase>, cacheTtlMs: number, outage?: { store: OutageCredentials; graceMs: number }): ApiKeyVerifier {
  const options = Object.assign(new AuthOptions(), { adminToken: ADMIN, cacheTtlMs, staleGraceMs: outage?.graceMs ?? 0 });
  return new ApiKeyVerifier(db.dataSource, options, outage?.store);
}

/** OutageCredentials in a Map (the resolver's are in Redis). */
class MemoryOutageCredentials extends OutageCredentials {
  readonly entries = new Map<string, RememberedPrincipal>();
  async remember(digest: string, principal: RememberedPrincipal): Promise<void> {
    this.entries.set(digest, principal);
  }
  async recall(digest: string): Promise<RememberedPrincipal | undefined> {
    return this.entries.get(digest);
  }
  async forget(digest: string): Promise<void> {
    this.entries.delete(digest);
  }
}

const unreachable = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const flush = () => new Promise((r) => setImmediate(r));

function storedKey(db: ReturnType<typeof fakeDatabase>, tenant: string | null = 'acme', scopes = ['routes:read', 'nonsense'], id = 'k1') {
  const key = generateApiKey();
  db.rows.set(key.lookup, { id, name: 'reader', secret_hash: key.secretHash, scopes, revoked_at: null, tenant, tenant_id: tenant === null ? null : `id-of-${tenant}` });
  return key;
}

describe('ApiKeyVerifier', () => {
  let now = 1_000_000;
  beforeEach(() => {
    now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
  });
  afterEach(() => jest.restoreAllMocks());

  it('the admin token is an admin, without asking the database; near misses are not', async () => {
    const hashing = jest.spyOn(keys, 'hashSecret');
    const db = fakeDatabase();
    const v = verifier(db, 5_000);
    const principal = await v.verify(ADMIN);
    expect(principal?.isAdmin).toBe(true);
    expect(principal?.tenant).toBeNull();
    expect(await v.verify(ADMIN)).toBe(principal);
    expect(await v.verify(`${ADMIN}x`)).toBeUndefined();
    expect(await v.verify(ADMIN.slice(0, -1))).toBeUndefined();
    expect(db.queries).toBe(0);
    // Once verified, the admin token is a cache hit: not hashed again, whatever the time.
    hashing.mockClear();
    now += 86_400_000;
    expect(await v.verify(ADMIN)).toBe(principal);
    expect(hashing).not.toHaveBeenCalled();
    // Without a cache it is hashed and compared every time (and once at start).
    const uncached = verifier(db, 0);
    expect(await uncached.verify(ADMIN)).toBe(await uncached.verify(ADMIN));
    expect(hashing).toHaveBeenCalledTimes(3);
  });

  it('a stored key: its tenant and known scopes; a wrong secret or an unknown lookup is refused and never cached', async () => {
    const db = fakeDatabase();
    const v = verifier(db, 5_000);
    const key = storedKey(db);
    const principal = await v.verify(key.key);
    expect(principal).toMatchObject({ id: 'k1', tenant: 'acme' });
    expect([...(principal?.scopes ?? [])]).toEqual(['routes:read']);
    const wrongSecret = key.key.slice(0, -1) + (key.key.endsWith('A') ? 'B' : 'A');
    expect(await v.verify(wrongSecret)).toBeUndefined();
    expect(await v.verify(wrongSecret)).toBeUndefined();
    expect(await v.verify(generateApiKey().key)).toBeUndefined();
    expect(db.queries).toBe(4);
  });

  it('a verified key is trusted for the TTL; revoked or deleted, it is refused once the TTL has passed', async () => {
    const db = fakeDatabase();
    const v = verifier(db, 5_000);
    const revoked = storedKey(db);
    const deleted = storedKey(db);
    expect(await v.verify(revoked.key)).toBeDefined();
    expect(await v.verify(deleted.key)).toBeDefined();
    (db.rows.get(revoked.lookup) as { revoked_at: Date | null }).revoked_at = new Date();
    db.rows.delete(deleted.lookup);
    now += 4_999;
    expect(await v.verify(revoked.key)).toBeDefined();
    expect(await v.verify(deleted.key)).toBeDefined();
    expect(db.queries).toBe(2);
    now += 2;
    expect(await v.verify(revoked.key)).toBeUndefined();
    expect(await v.verify(deleted.key)).toBeUndefined();
    expect(db.queries).toBe(4);
  });

  it('concurrent requests with a key not yet cached share one database query', async () => {
    const db = fakeDatabase();
    const v = verifier(db, 5_000);
    const key = storedKey(db);
    db.hold = true;
    const answers = Array.from({ length: 50 }, () => v.verify(key.key));
    await new Promise((r) => setImmediate(r));
    expect(db.queries).toBe(1);
    db.hold = false;
    for (const release of db.held) release();
    const principals = await Promise.all(answers);
    expect(principals.every((p) => p?.id === 'k1')).toBe(true);
    // The shared verification is over: the next one after the TTL asks again.
    now += 5_001;
    expect(await v.verify(key.key)).toBeDefined();
    expect(db.queries).toBe(2);
  });

  it('without a cache (TTL 0) every request asks the database: a revocation holds from the next request', async () => {
    const db = fakeDatabase();
    const v = verifier(db, 0);
    const key = storedKey(db);
    expect(await v.verify(key.key)).toBeDefined();
    expect(await v.verify(key.key)).toBeDefined();
    (db.rows.get(key.lookup) as { revoked_at: Date | null }).revoked_at = new Date();
    expect(await v.verify(key.key)).toBeUndefined();
    expect(db.queries).toBe(3);
  });

  describe('PostgreSQL unreachable: keys verified within the grace go on; nothing is ever a 401 for want of the database', () => {
    it('a verified key is remembered under its digest and recalled by any verifier sharing the store, within the grace', async () => {
      const db = fakeDatabase();
      const store = new MemoryOutageCredentials();
      const key = storedKey(db);
      expect(await verifier(db, 5_000, { store, graceMs: 60_000 }).verify(key.key)).toBeDefined();
      await flush();
      const remembered = store.entries.get(tokenDigest(key.key));
      expect(remembered).toMatchObject({ id: 'k1', tenant: 'acme', tenantId: 'id-of-acme', scopes: ['routes:read'], verifiedAt: now });
      // The secret never leaves the process (it may hold '_', so it is cut by position, not split).
      expect(JSON.stringify([...store.entries])).not.toContain(key.key.slice('tm_'.length + 20 + 1));
      db.failWith = unreachable();
      // Another replica, started during the outage: nothing in its memory.
      const replica = verifier(db, 5_000, { store, graceMs: 60_000 });
      now += 59_000;
      expect(await replica.verify(key.key)).toMatchObject({ id: 'k1', tenant: 'acme', tenantId: 'id-of-acme' });
      now += 1_001;
      await expect(new ApiKeyVerifier(db.dataSource, Object.assign(new AuthOptions(), { cacheTtlMs: 5_000, staleGraceMs: 60_000 }), store).verify(key.key)).rejects.toMatchObject({ status: 503 });
    });

    it('a key the database calls unknown or revoked is forgotten; an unseen key is 503, not 401', async () => {
      const db = fakeDatabase();
      const store = new MemoryOutageCredentials();
      const v = verifier(db, 0, { store, graceMs: 60_000 });
      const key = storedKey(db);
      const unseen = storedKey(db);
      expect(await v.verify(key.key)).toBeDefined();
      await flush();
      expect(store.entries.size).toBe(1);
      (db.rows.get(key.lookup) as { revoked_at: Date | null }).revoked_at = new Date();
      expect(await v.verify(key.key)).toBeUndefined();
      await flush();
      expect(store.entries.size).toBe(0);
      db.failWith = unreachable();
      await expect(v.verify(key.key)).rejects.toMatchObject({ status: 503 });
      await expect(v.verify(unseen.key)).rejects.toMatchObject({ status: 503 });
    });

    it('a recalled key never gets more than it had: routes:read on its own tenant, by id', async () => {
      const db = fakeDatabase();
      const store = new MemoryOutageCredentials();
      const writer = storedKey(db, 'acme', ['routes:write', 'audit:read'], 'k-writer');
      const admin = storedKey(db, null, ['admin'], 'k-admin');
      const auditor = storedKey(db, 'acme', ['audit:read'], 'k-auditor');
      const v = verifier(db, 0, { store, graceMs: 60_000 });
      for (const k of [writer, admin, auditor]) expect(await v.verify(k.key)).toBeDefined();
      await flush();
      db.failWith = unreachable();
      const during = verifier(db, 0, { store, graceMs: 60_000 });
      const w = await during.verify(writer.key);
      expect([...(w?.scopes ?? [])]).toEqual(['routes:read']);
      expect(w).toMatchObject({ tenant: 'acme', tenantId: 'id-of-acme' });
      expect(w?.hasScope('routes:write')).toBe(false);
      expect(w?.reaches('acme')).toBe(true);
      expect(w?.reaches('other')).toBe(false);
      // An admin key reads every tenant, as it could, and administers nothing.
      const a = await during.verify(admin.key);
      expect([...(a?.scopes ?? [])]).toEqual(['routes:read']);
      expect(a?.isAdmin).toBe(false);
      expect(a?.reaches('other')).toBe(true);
      // A key that could not read routes reads none.
      expect((await during.verify(auditor.key))?.hasScope('routes:read')).toBe(false);
    });
    it('overload is a 503 with the store left alone; without a store an outage is a 503', async () => {
      const db = fakeDatabase();
      const store = new MemoryOutageCredentials();
      const key = storedKey(db);
      expect(await verifier(db, 0, { store, graceMs: 60_000 }).verify(key.key)).toBeDefined();
      await flush();
      db.failWith = Object.assign(new Error('sorry, too many clients already'), { code: '53300' });
      await expect(verifier(db, 0, { store, graceMs: 60_000 }).verify(key.key)).rejects.toMatchObject({ status: 503, extra: { code: 'overloaded' } });
      db.failWith = unreachable();
      await expect(verifier(db, 0).verify(key.key)).rejects.toMatchObject({ status: 503, extra: { code: 'dependency_unavailable' } });
    });
  });
  it('stillValid: the ids of keys neither revoked nor deleted; the others leave the cache at once', async () => {
    const db = fakeDatabase();
    const v = verifier(db, 60_000);
    const kept = storedKey(db, 'acme', ['routes:read'], 'k-kept');
    const revoked = storedKey(db, 'acme', ['routes:read'], 'k-revoked');
    const deleted = storedKey(db, 'acme', ['routes:read'], 'k-deleted');
    for (const k of [kept, revoked, deleted]) expect(await v.verify(k.key)).toBeDefined();
    (db.rows.get(revoked.lookup) as { revoked_at: Date | null }).revoked_at = new Date();
    db.rows.delete(deleted.lookup);
    // Still trusted from the cache, within its TTL ...
    expect(await v.verify(revoked.key)).toBeDefined();
    expect([...(await v.stillValid(['k-kept', 'k-revoked', 'k-deleted']))]).toEqual(['k-kept']);
    // ... and no longer once stillValid has seen them go, without waiting for the TTL.
    expect(await v.verify(revoked.key)).toBeUndefined();
    expect(await v.verify(deleted.key)).toBeUndefined();
    expect(await v.verify(kept.key)).toBeDefined();
    expect(await v.stillValid([])).toEqual(new Set());
    db.failWith = unreachable();
    await expect(v.stillValid(['k-kept'])).rejects.toThrow('ECONNREFUSED');
  });
});
