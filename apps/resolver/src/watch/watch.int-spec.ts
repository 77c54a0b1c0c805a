import { ResolverUnderTest } from '../resolver.test-support';
import { bookmarkOf, changeRevisions, eventOf, listening, orderProblems, WatchClient } from './watch.test-support';

describe('watch (real PostgreSQL)', () => {
  let r: ResolverUnderTest;
  let base: string;
  const open: WatchClient[] = [];
  const watch = async (path: string, options?: Parameters<typeof WatchClient.open>[2]) => {
    const client = await WatchClient.open(base, path, options);
    open.push(client);
    return client;
  };

  beforeAll(async () => {
    r = await ResolverUnderTest.start({ env: { WATCH_BOOKMARK_INTERVAL_MS: '1000' } });
    base = await listening(r.app);
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  afterAll(async () => {
    await r.stop();
  });

  it('opens with a snapshot and its bookmark, then streams changes with their revisions and bookmarks', async () => {
    const a = await r.write('snap/web/prod', 'https://web.example');
    const b = await r.write('snap/api/prod', 'https://api.example');
    await r.write('other/web/prod', 'https://other.example');
    const c = await watch('/v1/watch/snap', { headers: { 'x-request-id': 'watch-req-1' } });
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(c.headers['cache-control']).toBe('no-cache');
    expect(c.headers['x-accel-buffering']).toBe('no');
    expect(c.headers['x-watch-bookmark-interval-ms']).toBe('1000');
    expect(c.headers['x-request-id']).toBe('watch-req-1');
    const frames = await c.until((f) => f.some((x) => x.event === 'bookmark'));
    const snapshot = frames.slice(0, 2);
    expect(snapshot.map((f) => [f.event, f.id])).toEqual([
      ['put', undefined],
      ['put', undefined],
    ]);
    expect(snapshot.map((f) => eventOf(f).data)).toEqual([
      {
        tenant: 'snap',
        service: 'api',
        environment: 'prod',
        url: 'https://api.example',
        revision: b.data.revision,
        endpoints: [{ id: 'default', url: 'https://api.example', priority: 1, weight: 1, state: 'enabled', healthRevision: b.data.revision }],
        healthCheck: null,
      },
      {
        tenant: 'snap',
        service: 'web',
        environment: 'prod',
        url: 'https://web.example',
        revision: a.data.revision,
        endpoints: [{ id: 'default', url: 'https://web.example', priority: 1, weight: 1, state: 'enabled', healthRevision: a.data.revision }],
        healthCheck: null,
      },
    ]);
    const mark = frames[2];
    expect(mark?.event).toBe('bookmark');
    const bookmark = bookmarkOf(mark!);
    expect(bookmark.snapshot).toBe(true);
    expect(bookmark.revision).toBeGreaterThanOrEqual(b.data.revision + 1);
    expect(mark?.id).toBe(String(bookmark.revision));
    expect(Date.parse(bookmark.knownCurrentAt)).toBeGreaterThan(0);
    expect(bookmark.ageMs).toBeGreaterThanOrEqual(0);

    const put = await r.write('snap/web/prod', 'https://web2.example');
    const del = await r.write('snap/api/prod', null);
    await r.write('other/web/prod', 'https://other2.example');
    const after = await c.untilBookmark(del.data.revision);
    const live = after.slice(3).filter((f) => f.event !== 'bookmark');
    expect(live.map((f) => [f.event, f.id])).toEqual([
      ['put', String(put.data.revision)],
      ['delete', String(del.data.revision)],
    ]);
    expect(eventOf(live[0]!)).toMatchObject({ specversion: '1.0', type: 'traffic-manager.route.upserted.v1', subject: 'snap/web/prod', data: put.data });
    expect(eventOf(live[1]!)).toMatchObject({ type: 'traffic-manager.route.deleted.v1', data: { url: null, revision: del.data.revision } });
    expect(orderProblems(after, [put.data.revision, del.data.revision])).toEqual([]);
  });

  it('gives an empty snapshot for a tenant with no routes, and heartbeats at least every interval', async () => {
    const c = await watch('/v1/watch/nobody-here');
    const frames = await c.until((f) => f.filter((x) => x.event === 'bookmark').length >= 3, 10_000);
    expect(frames[0]?.event).toBe('bookmark');
    expect(bookmarkOf(frames[0]!).snapshot).toBe(true);
    const later = frames.filter((f) => f.event === 'bookmark').slice(1).map(bookmarkOf);
    expect(later.every((b) => !b.snapshot)).toBe(true);
    // Each heartbeat carries a newer proof of the store's revision.
    expect(Date.parse(later[1]!.knownCurrentAt)).toBeGreaterThan(Date.parse(later[0]!.knownCurrentAt));
  });

  it('resumes after a revision (Last-Event-ID wins over since), filters by service, and refuses what it cannot serve', async () => {
    const first = await r.write('resume/web/prod', 'https://1.example');
    const second = await r.write('resume/api/prod', 'https://2.example');
    const third = await r.write('resume/web/prod', 'https://3.example');
    const c = await watch(`/v1/watch/resume?since=${first.data.revision - 1}`, { headers: { 'last-event-id': String(first.data.revision) } });
    const frames = await c.untilBookmark(third.data.revision);
    expect(changeRevisions(frames)).toEqual([second.data.revision, third.data.revision]);
    expect(frames.some((f) => f.event === 'put' && f.id === undefined)).toBe(false);

    const web = await watch(`/v1/watch/resume?service=web&since=${first.data.revision - 1}`);
    expect(changeRevisions(await web.untilBookmark(third.data.revision))).toEqual([first.data.revision, third.data.revision]);

    for (const bad of ['-1', 'abc', '1.5', '01']) {
      const refused = await watch(`/v1/watch/resume?since=${encodeURIComponent(bad)}`);
      expect(refused.status).toBe(400);
      expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    const badId = await watch('/v1/watch/resume', { headers: { 'last-event-id': 'x' } });
    expect(badId.status).toBe(400);
    expect(badId.problem.errors).toEqual([{ field: 'Last-Event-ID', message: expect.any(String) }]);
    const ahead = await watch(`/v1/watch/resume?since=${third.data.revision + 1000}`);
    expect(ahead.status).toBe(412);
  });

  it('authorizes like every read: 401 without a key, 403 for another tenant, a tenant key on /v1/watch sees only its tenant', async () => {
    expect((await watch('/v1/watch/acme', { token: 'nope' })).status).toBe(401);
    const mine = await r.createKey(['routes:read'], 'mine');
    const writer = await r.createKey(['routes:write'], 'mine');
    expect((await watch('/v1/watch/theirs', { token: mine })).status).toBe(403);
    const before = await r.write('mine/web/prod', 'https://mine.example');
    await r.write('theirs/web/prod', 'https://theirs.example');
    const all = await watch('/v1/watch', { token: mine });
    const snapshotted = await all.until((f) => f.some((x) => x.event === 'bookmark'));
    expect(snapshotted.filter((f) => f.event === 'put').map((f) => eventOf(f).subject)).toEqual(['mine/web/prod']);
    const own = await watch(`/v1/watch/mine?since=${before.data.revision - 1}`, { token: writer });
    await r.write('theirs/web/prod', 'https://theirs2.example');
    const next = await r.write('mine/web/prod', 'https://mine2.example');
    const frames = await all.untilBookmark(next.data.revision);
    expect(frames.filter((f) => f.id !== undefined && f.event === 'put').map((f) => eventOf(f).subject)).toEqual(['mine/web/prod']);
    expect(changeRevisions(await own.untilBookmark(next.data.revision))).toEqual([before.data.revision, next.data.revision]);
    const admin = await watch('/v1/watch');
    const everything = await admin.until((f) => f.some((x) => x.event === 'bookmark'));
    const subjects = everything.filter((f) => f.event === 'put').map((f) => eventOf(f).subject);
    expect(subjects).toEqual(expect.arrayContaining(['mine/web/prod', 'theirs/web/prod']));
  });

  it('answers 410 with the compact revision for a revision older than the history', async () => {
    const w = await r.write('compact/web/prod', 'https://1.example');
    await r.write('compact/web/prod', 'https://2.example');
    // The shared resolver's feed reads both first: rows deleted before it read them would be a real
    // gap to it (every one of its streams would start again, those of the next tests included).
    // (A resume, not a snapshot: its bookmarks come from the feed, a snapshot's from its own read.)
    const seen = await WatchClient.open(base, `/v1/watch/compact?since=${w.data.revision - 1}`);
    await seen.untilBookmark(w.data.revision + 1);
    seen.close();
    // Retention removed the oldest rows (here directly; the relay never deletes the newest 10,000).
    await r.db.query('DELETE FROM outbox WHERE revision <= $1', [w.data.revision]);
    const replica = await ResolverUnderTest.replicaOf(r, r.database.url);
    try {
      const replicaBase = await listening(replica);
      const gone = await WatchClient.open(replicaBase, `/v1/watch/compact?since=${w.data.revision - 1}`);
      expect(gone.status).toBe(410);
      expect(gone.problem).toMatchObject({ status: 410, compactRevision: w.data.revision, currentRevision: expect.any(Number) });
      const ok = await WatchClient.open(replicaBase, `/v1/watch/compact?since=${w.data.revision}`);
      open.push(ok);
      expect(ok.status).toBe(200);
      expect(changeRevisions(await ok.untilBookmark(w.data.revision + 1))).toEqual([w.data.revision + 1]);
    } finally {
      for (const c of open.splice(0)) c.close();
      await replica.close();
    }
  });

  it('limits streams per replica (503 with Retry-After) and closes every stream on shutdown', async () => {
    const replica = await ResolverUnderTest.replicaOf(r, r.database.url, { env: { WATCH_MAX_STREAMS: '2' } });
    const replicaBase = await listening(replica);
    const one = await WatchClient.open(replicaBase, '/v1/watch/limits');
    const two = await WatchClient.open(replicaBase, '/v1/watch/limits');
    const three = await WatchClient.open(replicaBase, '/v1/watch/limits');
    expect([one.status, two.status, three.status]).toEqual([200, 200, 503]);
    expect(three.headers['retry-after']).toBeDefined();
    await one.untilBookmark(0);
    const closing = replica.close();
    await Promise.all([one.untilEnded(), two.untilEnded()]);
    await closing;
  });

  it('disconnects a client that stops reading once more than WATCH_MAX_BUFFERED_EVENTS are queued', async () => {
    const replica = await ResolverUnderTest.replicaOf(r, r.database.url, { env: { WATCH_MAX_BUFFERED_EVENTS: '10' } });
    try {
      const replicaBase = await listening(replica);
      const stalled = await WatchClient.open(replicaBase, '/v1/watch/slow');
      // A reader on a replica with the default limit (10,000 queued events).
      const reader = await WatchClient.open(base, '/v1/watch/slow');
      open.push(reader, stalled);
      await Promise.all([reader.untilBookmark(0), stalled.untilBookmark(0)]);
      stalled.pause();
      // 4,000 changes of 4 KiB in one transaction, as a tenant deletion writes them: far more than a socket holds.
      const { rows } = await r.db.query<{ last: string }>(
        `WITH c AS (UPDATE store_revision SET revision = revision + 4000 RETURNING revision)
         INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at)
         SELECT gen_random_uuid(), 'slow/web/prod', 'traffic-manager.route.upserted.v1',
                jsonb_build_object('padding', repeat('x', 4096)), c.revision - 4000 + g, now()
           FROM c, generate_series(1, 4000) g
         RETURNING revision::text AS last`,
      );
      const last = Math.max(...rows.map((x) => Number(x.last)));
      await stalled.untilEnded(20_000);
      const metrics = await (await fetch(`${replicaBase}/metrics`)).text();
      expect(metrics).toMatch(/^tm_resolver_watch_streams_closed_total\{reason="slow",app="resolver"\} 1$/m);
      // The client that reads gets every one of them, under the default limit.
      const frames = await reader.untilBookmark(last, 20_000);
      expect(changeRevisions(frames)).toHaveLength(4000);
    } finally {
      for (const c of open.splice(0)) c.close();
      await replica.close();
    }
  });
});

describe('watch bookmarks between heartbeats (real PostgreSQL)', () => {
  let r: ResolverUnderTest;
  let base: string;

  beforeAll(async () => {
    // Heartbeats a minute apart: a bookmark that comes sooner is the one owed for the feed passing a revision.
    r = await ResolverUnderTest.start({ env: { WATCH_BOOKMARK_INTERVAL_MS: '60000' } });
    base = await listening(r.app);
  });
  afterAll(async () => {
    await r.stop();
  });

  it("bookmarks a stream past other tenants' writes (nothing of its own changed), and its own writes with the event", async () => {
    await r.write('quiet/web/prod', 'https://quiet.example');
    const quiet = await WatchClient.open(base, '/v1/watch/quiet');
    const busy = await WatchClient.open(base, '/v1/watch/busy');
    try {
      await quiet.untilBookmark(0);
      await busy.untilBookmark(0);
      const written: number[] = [];
      for (let i = 0; i < 5; i++) written.push((await r.write('busy/web/prod', `https://busy${i}.example`)).data.revision);
      const last = Math.max(...written);
      const seen = await quiet.untilBookmark(last, 10_000);
      expect(changeRevisions(seen)).toEqual([]);
      const frames = await busy.untilBookmark(last, 10_000);
      expect(changeRevisions(frames)).toEqual(written);
      // Never a bookmark ahead of an event it covers (the event and its bookmark leave in one write).
      expect(orderProblems(frames, written)).toEqual([]);
    } finally {
      quiet.close();
      busy.close();
    }
  });
});
