import { FaultProxy, TEST_ADMIN_TOKEN, TestStack, type AppProcess } from '@tm/testing';
import { eventually } from './support';

interface Feed {
  replica: string;
  feedRevision: number;
  seenAt: string;
  live: boolean;
}

interface Status {
  revision: number;
  committedAt: string | null;
  status: 'pending' | 'in-sync';
  published: boolean;
  cacheApplied: boolean;
  resolvers: Feed[];
  checkedAt: string;
}

/** A replica is live while heard from within this (short for the test; the default is 10 s). */
const REPLICA_TIMEOUT_MS = 3_000;

/**
 * GET /v1/revisions/{R} and ?wait=in-sync against the real stack as processes: the command API, the
 * relay, the worker and two resolver replicas (A, and B whose PostgreSQL is behind a fault proxy:
 * cut, its feed stays behind while it goes on reporting, which is how a replica is held behind R).
 */
describe('propagation (processes, real PostgreSQL, Redis and Kafka)', () => {
  let stack: TestStack;
  let proxy: FaultProxy;
  let replicaB: AppProcess;
  beforeAll(async () => {
    stack = await TestStack.start({ env: { PROPAGATION_REPLICA_TIMEOUT_MS: String(REPLICA_TIMEOUT_MS), RESOLVER_REPLICA_ID: 'resolver-a' } });
    const proxied = await FaultProxy.forUrl(stack.environment.database.url);
    proxy = proxied.proxy;
    replicaB = await stack.startExtra('resolver', { DATABASE_URL: proxied.url, RESOLVER_REPLICA_ID: 'resolver-b' });
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    await proxy?.stop();
  });

  const api = () => stack.app('command-api').url;
  const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

  async function put(route: string, url: string, query = ''): Promise<{ status: number; body: Record<string, unknown> & { revision: number; propagation?: Status } }> {
    const res = await fetch(`${api()}/v1/routes/${route}${query}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ url }) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { revision: number; propagation?: Status } };
  }

  async function status(revision: number | string): Promise<{ code: number; body: Status }> {
    const res = await fetch(`${api()}/v1/revisions/${revision}`, { headers: auth });
    return { code: res.status, body: (await res.json()) as Status };
  }

  const feed = (s: Status, replica: string) => s.resolvers.find((r) => r.replica === replica);

  it('answers a write with ?wait=in-sync once Kafka, the worker and both replicas have it, and GET /v1/revisions/{R} agrees', async () => {
    // Both replicas have reported (they report within a second of starting).
    const warm = (await put('acme/web/warm', 'https://w.example')).body.revision;
    await eventually(async () => (await status(warm)).body.resolvers.length === 2, 10_000, 'both replicas reporting');
    const { status: code, body } = await put('acme/web/prod', 'https://a.example', '?wait=in-sync&waitTimeoutMs=20000');
    expect(code).toBe(201);
    expect(body.propagation).toMatchObject({ revision: body.revision, status: 'in-sync', published: true, cacheApplied: true });
    const replicas = (body.propagation?.resolvers ?? []).map((r) => [r.replica, r.live, r.feedRevision >= body.revision]);
    expect(replicas).toEqual([
      ['resolver-a', true, true],
      ['resolver-b', true, true],
    ]);
    const after = await status(body.revision);
    expect(after.code).toBe(200);
    expect(after.body).toMatchObject({ revision: body.revision, status: 'in-sync', published: true, cacheApplied: true });
    expect(Date.parse(after.body.committedAt ?? '')).toBeLessThanOrEqual(Date.parse(after.body.checkedAt));

    // A DELETE that waits answers 200 with the revision and the propagation instead of 204.
    await put('acme/web/gone', 'https://g.example');
    const del = await fetch(`${api()}/v1/routes/acme/web/gone?wait=in-sync&waitTimeoutMs=20000`, { method: 'DELETE', headers: auth });
    expect(del.status).toBe(200);
    const deleted = (await del.json()) as { revision: number; propagation: Status };
    expect(deleted.propagation).toMatchObject({ revision: deleted.revision, status: 'in-sync' });
    expect(Number(del.headers.get('x-route-revision'))).toBe(deleted.revision);
    // An unchanged PUT waits for the route's revision.
    const same = await put('acme/web/prod', 'https://a.example', '?wait=in-sync&waitTimeoutMs=20000');
    expect(same.status).toBe(200);
    expect(same.body.propagation).toMatchObject({ revision: body.revision, status: 'in-sync' });

    // A change set of many routes, a rollback and a revert wait the same way.
    const setRes = await fetch(`${api()}/v1/changes?wait=in-sync&waitTimeoutMs=20000`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ changes: [{ op: 'put', route: 'acme/set/a', body: { url: 'https://sa.example' } }, { op: 'put', route: 'acme/set/b', body: { url: 'https://sb.example' } }] }),
    });
    expect(setRes.status).toBe(201);
    const set = (await setRes.json()) as { revision: number; propagation: Status };
    expect(set.propagation).toMatchObject({ revision: set.revision, status: 'in-sync', published: true, cacheApplied: true });
    const revert = await fetch(`${api()}/v1/changes/${set.revision}/revert?wait=in-sync&waitTimeoutMs=20000`, { method: 'POST', headers: auth });
    const reverted = (await revert.json()) as { revision: number; propagation: Status };
    expect(revert.status).toBe(200);
    expect(reverted.propagation).toMatchObject({ revision: reverted.revision, status: 'in-sync' });
    const rollback = await fetch(`${api()}/v1/routes/acme/set/a/rollback?wait=in-sync&waitTimeoutMs=20000`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ toRevision: set.revision }),
    });
    const rolled = (await rollback.json()) as { revision: number; propagation: Status };
    expect(rollback.status).toBe(201);
    expect(rolled.propagation).toMatchObject({ revision: rolled.revision, status: 'in-sync' });
  });

  it('answers 412 beyond the store, 400 on a bad revision or wait', async () => {
    const current = (await put('acme/web/probe', 'https://p.example')).body.revision;
    const ahead = await status(current + 1_000);
    expect(ahead.code).toBe(412);
    expect(ahead.body).toMatchObject({ status: 412, code: 'revision_ahead' });
    for (const bad of ['abc', '0', '-1', '1.5']) expect((await status(bad)).code).toBe(400);
    for (const query of ['?wait=soon', '?wait=in-sync&waitTimeoutMs=0', '?wait=in-sync&waitTimeoutMs=30001', '?wait=in-sync&waitTimeoutMs=x']) {
      expect((await put('acme/web/probe', 'https://p.example', query)).status).toBe(400);
    }
  });

  it('stays pending while a live replica is behind R, naming it; in sync once it catches up', async () => {
    proxy.refuse();
    try {
      const { body } = await put('acme/web/held', 'https://h1.example');
      const R = body.revision;
      // Everything else gets there: the status then waits on replica B alone.
      await eventually(async () => {
        const s = (await status(R)).body;
        return s.published && s.cacheApplied && (feed(s, 'resolver-a')?.feedRevision ?? 0) >= R;
      }, 20_000, 'R published, applied and in replica A');
      const held = (await status(R)).body;
      expect(held.status).toBe('pending');
      expect(feed(held, 'resolver-b')).toMatchObject({ live: true });
      expect(feed(held, 'resolver-b')?.feedRevision).toBeLessThan(R);
      // A write that waits answers after its timeout, pending, the write committed.
      const waited = await put('acme/web/held', 'https://h2.example', '?wait=in-sync&waitTimeoutMs=300');
      expect(waited.status).toBe(200);
      expect(waited.body.url).toBe('https://h2.example');
      expect(waited.body.propagation).toMatchObject({ revision: waited.body.revision, status: 'pending' });
      expect(feed(waited.body.propagation as Status, 'resolver-b')?.feedRevision).toBeLessThan(waited.body.revision);
    } finally {
      proxy.restore();
    }
    const R = (await put('acme/web/held', 'https://h3.example')).body.revision;
    await eventually(async () => (await status(R)).body.status === 'in-sync', 30_000, 'replica B caught up');
    expect(feed((await status(R)).body, 'resolver-b')?.feedRevision).toBeGreaterThanOrEqual(R);
  });

  it('stays pending while the worker is stopped (cacheApplied false), in sync once it is back', async () => {
    await stack.app('invalidation-worker').stop();
    const R = (await put('acme/web/worker', 'https://w1.example')).body.revision;
    await eventually(async () => {
      const s = (await status(R)).body;
      return s.published && s.resolvers.length === 2 && s.resolvers.every((r) => r.live && r.feedRevision >= R);
    }, 20_000, 'R published and in both replicas');
    const stopped = (await status(R)).body;
    expect(stopped).toMatchObject({ status: 'pending', published: true, cacheApplied: false });
    await stack.restart('invalidation-worker');
    await eventually(async () => (await status(R)).body.status === 'in-sync', 30_000, 'the worker applied R');
  }, 90_000);

  it('lists a replica that stopped reporting as not live after PROPAGATION_REPLICA_TIMEOUT_MS, and it no longer holds R back', async () => {
    proxy.refuse();
    const R = (await put('acme/web/dead', 'https://d1.example')).body.revision;
    await eventually(async () => {
      const s = (await status(R)).body;
      return s.cacheApplied && (feed(s, 'resolver-a')?.feedRevision ?? 0) >= R;
    }, 20_000, 'R applied and in replica A');
    const before = (await status(R)).body;
    expect(before.status).toBe('pending');
    expect(feed(before, 'resolver-b')).toMatchObject({ live: true });
    // A crash: no graceful goodbye, its last report stays in Redis.
    await replicaB.kill();
    await eventually(async () => (await status(R)).body.status === 'in-sync', REPLICA_TIMEOUT_MS + 20_000, 'replica B no longer live');
    const after = (await status(R)).body;
    expect(feed(after, 'resolver-b')).toMatchObject({ live: false });
    expect(feed(after, 'resolver-b')?.feedRevision).toBeLessThan(R);
    expect(feed(after, 'resolver-a')).toMatchObject({ live: true });
  }, 60_000);
});
