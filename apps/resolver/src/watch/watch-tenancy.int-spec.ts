import { connect, type Socket } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { parseApiKey } from '@tm/auth';
import { Barrier, ResolverUnderTest } from '../resolver.test-support';
import { WatchService } from './watch.service';
import { changeRevisions, eventOf, listening, WatchClient } from './watch.test-support';

/**
 * The watch shared by many tenants (docs/guarantees.md, "Tenancy: limits and revocation"): quotas that
 * count a stream from its admission, revocation that reaches open streams on every replica, a tenant
 * that is its id, and streams that cannot hold the resolver's memory. Keys are the stored,
 * tenant-bound ones clients hold; a hostile tenant beside an honest one.
 */
describe('watch: limits and revocation', () => {
  let r: ResolverUnderTest;
  const apps: NestFastifyApplication[] = [];
  const clients: WatchClient[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    r = await ResolverUnderTest.start({ env: { WATCH_BOOKMARK_INTERVAL_MS: '1000' } });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  afterAll(() => r.stop());

  async function replica(env: Record<string, string>, watchHooks = {}): Promise<{ app: NestFastifyApplication; base: string }> {
    const app = await ResolverUnderTest.replicaOf(r, r.database.url, { env, watchHooks });
    apps.push(app);
    return { app, base: await listening(app) };
  }

  async function watch(base: string, path: string, token?: string): Promise<WatchClient> {
    const client = await WatchClient.open(base, path, token === undefined ? {} : { token });
    clients.push(client);
    return client;
  }

  /** A client that sends its request and never reads a byte of the answer. */
  function stalled(base: string, path: string, token: string): void {
    const { port } = new URL(base);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`);
    socket.pause();
    sockets.push(socket);
  }

  async function metric(base: string, pattern: RegExp): Promise<number> {
    const text = await (await fetch(`${base}/metrics`)).text();
    const line = text.split('\n').find((l) => pattern.test(l));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  /** Resolves once `check` holds (the server's own timers decide when), or fails after `timeoutMs`. */
  async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
    for (const deadline = Date.now() + timeoutMs; !(await check()); ) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('counts a stream from its admission: opens still reading their snapshot cannot exceed WATCH_MAX_STREAMS', async () => {
    const gate = new Barrier();
    const { base } = await replica({ WATCH_MAX_STREAMS: '2' }, { beforeSnapshotRead: () => gate.wait() });
    const key = await r.createKey(['routes:read'], 'admission');
    const first = WatchClient.open(base, '/v1/watch/admission', { token: key });
    const second = WatchClient.open(base, '/v1/watch/admission', { token: key });
    await gate.reached;
    let third: WatchClient;
    try {
      // Both admitted and waiting on their snapshot read: the third is refused now, not admitted too.
      third = await watch(base, '/v1/watch/admission', key);
    } finally {
      gate.open();
    }
    expect(third.status).toBe(503);
    expect(third.problem).toMatchObject({ code: 'watch_streams_exhausted', type: 'urn:traffic-manager:problem:watch_streams_exhausted' });
    expect(third.headers['retry-after']).toMatch(/^\d+$/);
    const opened = await Promise.all([first, second]);
    clients.push(...opened);
    expect(opened.map((c) => c.status)).toEqual([200, 200]);
  });

  it('limits streams per key and per tenant (429 watch_stream_quota); another tenant and the admin token are not held back', async () => {
    const { base } = await replica({ WATCH_MAX_STREAMS: '20', WATCH_MAX_STREAMS_PER_KEY: '2', WATCH_MAX_STREAMS_PER_TENANT: '3' });
    const hostile = await r.createKey(['routes:read'], 'noisy');
    const hostile2 = await r.createKey(['routes:read'], 'noisy');
    const honest = await r.createKey(['routes:read'], 'quiet');
    const statuses = async (token: string | undefined, path: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await watch(base, path, token)).status);
      return out;
    };
    expect(await statuses(hostile, '/v1/watch/noisy', 3)).toEqual([200, 200, 429]);
    const overKey = clients[clients.length - 1] as WatchClient;
    expect(overKey.problem).toMatchObject({ status: 429, code: 'watch_stream_quota', type: 'urn:traffic-manager:problem:watch_stream_quota' });
    expect(overKey.headers['retry-after']).toMatch(/^\d+$/);
    // The tenant's second key: its own quota has room, the tenant's (3) does not after one more.
    expect(await statuses(hostile2, '/v1/watch/noisy', 2)).toEqual([200, 429]);
    expect((clients[clients.length - 1] as WatchClient).problem).toMatchObject({ detail: expect.stringContaining('WATCH_MAX_STREAMS_PER_TENANT') });
    // The honest tenant beside it, and the admin token, open theirs.
    expect(await statuses(honest, '/v1/watch/quiet', 2)).toEqual([200, 200]);
    expect(await statuses(undefined, '/v1/watch/noisy', 4)).toEqual([200, 200, 200, 200]);
    expect(await metric(base, /^tm_quota_refusals_total\{limit="watch_streams_per_key",tenant="noisy"/)).toBe(1);
    expect(await metric(base, /^tm_quota_refusals_total\{limit="watch_streams_per_tenant",tenant="noisy"/)).toBe(1);
    // A stream that ends gives its place back.
    const open = clients.find((c) => c.status === 200) as WatchClient;
    open.close();
    await until(async () => {
      const again = await watch(base, '/v1/watch/noisy', hostile);
      return again.status === 200;
    });
  });

  it('revoking a key ends its open streams on every replica within AUTH_CACHE_TTL_MS, cleanly; its resume is refused', async () => {
    const env = { AUTH_CACHE_TTL_MS: '1000' };
    const one = await replica(env);
    const two = await replica(env);
    const key = await r.createKey(['routes:read'], 'revoked');
    const honest = await r.createKey(['routes:read'], 'revoked');
    const w = await r.write('revoked/web/prod', 'https://1.example');
    const streams = [await watch(one.base, '/v1/watch/revoked', key), await watch(two.base, '/v1/watch', key), await watch(one.base, '/v1/watch/revoked', honest)];
    await Promise.all(streams.map((c) => c.untilBookmark(w.data.revision)));
    await r.db.query('UPDATE api_keys SET revoked_at = now() WHERE lookup = $1', [parseApiKey(key)?.lookup]);
    await Promise.all([streams[0]?.untilEnded(), streams[1]?.untilEnded()]);
    expect(await metric(one.base, /^tm_resolver_watch_streams_closed_total\{reason="revoked"/)).toBe(1);
    expect(await metric(two.base, /^tm_resolver_watch_streams_closed_total\{reason="revoked"/)).toBe(1);
    // The other key's stream goes on, and gets the next change.
    const next = await r.write('revoked/web/prod', 'https://2.example');
    expect(changeRevisions(await (streams[2] as WatchClient).untilBookmark(next.data.revision))).toEqual([next.data.revision]);
    expect(streams[2]?.isEnded).toBe(false);
    // The client's resume is refused, on either replica.
    expect((await watch(one.base, `/v1/watch/revoked?since=${w.data.revision}`, key)).status).toBe(401);
    expect((await watch(two.base, '/v1/watch', key)).status).toBe(401);
  });

  it("deleting a key's tenant ends its streams", async () => {
    const { app, base } = await replica({});
    const key = await r.createKey(['routes:read'], 'deleted');
    const w = await r.write('deleted/web/prod', 'https://1.example');
    const stream = await watch(base, '/v1/watch/deleted', key);
    await stream.untilBookmark(w.data.revision);
    await r.write('deleted/web/prod', null);
    await r.db.query("DELETE FROM services WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'deleted')");
    await r.db.query("DELETE FROM tenants WHERE slug = 'deleted'");
    // The check on its own (forced, not waited for): the tenant's keys went with it.
    await app.get(WatchService).checkRevocations();
    await stream.untilEnded(2_000);
    expect(await metric(base, /^tm_resolver_watch_streams_closed_total\{reason="revoked"/)).toBe(1);
  });

  it('a stream never gets the changes of a new tenant that took its slug: it ends', async () => {
    const { base } = await replica({});
    const before = await r.write('reused/web/prod', 'https://old-owner.example');
    // The admin token may read every tenant: this stream is bound to the tenant it found (by id).
    const stream = await watch(base, '/v1/watch/reused');
    await stream.untilBookmark(before.data.revision);
    const deleted = await r.write('reused/web/prod', null);
    await r.db.query("DELETE FROM services WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'reused')");
    await r.db.query("DELETE FROM tenants WHERE slug = 'reused'");
    const reborn = await r.write('reused/web/prod', 'https://new-owner.example');
    expect(reborn.tenantId).not.toBe(before.tenantId);
    await stream.untilEnded();
    expect(changeRevisions(stream.frames)).toEqual([deleted.data.revision]);
    expect(stream.frames.map((f) => f.data).join('\n')).not.toContain('new-owner');
    expect(await metric(base, /^tm_resolver_watch_streams_closed_total\{reason="tenant-gone"/)).toBe(1);
    // A new stream is the new tenant's.
    const fresh = await watch(base, '/v1/watch/reused');
    const frames = await fresh.until((f) => f.some((x) => x.event === 'bookmark'));
    expect(frames.filter((f) => f.event === 'put').map((f) => eventOf(f).data.url)).toEqual(['https://new-owner.example']);
  });

  it('cuts a stream congested past WATCH_MAX_CONGESTED_MS, under the buffered-event limit', async () => {
    const { base } = await replica({ WATCH_MAX_CONGESTED_MS: '500', WATCH_MAX_BUFFERED_EVENTS: '1000000' });
    const key = await r.createKey(['routes:read'], 'congested');
    const w = await r.write('congested/web/prod', 'https://1.example');
    stalled(base, `/v1/watch/congested?since=${w.data.revision}`, key);
    await until(async () => (await metric(base, /^tm_resolver_watch_streams\{/)) === 1);
    // 4,000 changes of 4 KiB: far more than the socket holds; far fewer than the buffered-event limit.
    await r.db.query(
      `WITH c AS (UPDATE store_revision SET revision = revision + 4000 RETURNING revision)
       INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at)
       SELECT gen_random_uuid(), 'congested/web/prod', 'traffic-manager.route.upserted.v1',
              jsonb_build_object('padding', repeat('x', 4096)), c.revision - 4000 + g, now()
         FROM c, generate_series(1, 4000) g`,
    );
    await until(async () => (await metric(base, /^tm_resolver_watch_streams_closed_total\{reason="slow"/)) === 1);
    expect(await metric(base, /^tm_resolver_watch_streams\{/)).toBe(0);
  });

  it('cuts a stream whose client does not read its snapshot within WATCH_MAX_CONGESTED_MS', async () => {
    const { base } = await replica({ WATCH_MAX_CONGESTED_MS: '500' });
    const key = await r.createKey(['routes:read'], 'bigsnap');
    // 8,000 routes of 2 KB: a snapshot far larger than the socket holds.
    await r.db.query("INSERT INTO services (tenant_id, name) SELECT id, 'web' FROM tenants WHERE slug = 'bigsnap'");
    await r.db.query(
      `INSERT INTO endpoints (service_id, environment, url, revision, updated_at)
       SELECT s.id, 'env-' || g, 'https://big.example/' || repeat('p', 2000), 1, now()
         FROM services s JOIN tenants t ON t.id = s.tenant_id, generate_series(1, 8000) g WHERE t.slug = 'bigsnap'`,
    );
    stalled(base, '/v1/watch/bigsnap', key);
    await until(async () => (await metric(base, /^tm_resolver_watch_streams_closed_total\{reason="slow"/)) === 1);
    expect(await metric(base, /^tm_resolver_watch_streams\{/)).toBe(0);
  });
});
