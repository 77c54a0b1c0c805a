import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FaultProxy } from '@tm/testing';
import { Barrier, ResolverUnderTest } from '../resolver.test-support';
import { ChangeFeed } from './change-feed';
import { WatchMetrics } from './watch.metrics';
import { bookmarkOf, changeRevisions, eventOf, listening, orderProblems, WatchClient, type Frame } from './watch.test-support';
import type { WatchHooks } from './watch-hooks';

/** Bookmarks of a stream, in order. */
const bookmarks = (frames: Frame[]) => frames.filter((f) => f.event === 'bookmark').map(bookmarkOf);

/**
 * The watch's order rules under forced interleavings (docs/guarantees.md, "Watch"): a bookmark never
 * covers a change not yet sent (etcd-io/etcd#15220), a snapshot joins a feed that is behind or ahead
 * of it without a gap or a repeat, a client resumes on another replica with nothing lost or repeated,
 * and while PostgreSQL is unreachable bookmarks stop but streams stay open.
 */
describe('watch order under interleavings (real PostgreSQL)', () => {
  let r: ResolverUnderTest;
  const clients: WatchClient[] = [];
  const apps: NestFastifyApplication[] = [];
  const watch = async (base: string, path: string, headers?: Record<string, string>, token?: string) => {
    const c = await WatchClient.open(base, path, { headers, token });
    clients.push(c);
    return c;
  };
  const replica = async (hooks: WatchHooks, env: Record<string, string> = {}, databaseUrl?: string) => {
    const app = await ResolverUnderTest.replicaOf(r, databaseUrl ?? r.database.url, { watchHooks: hooks, env: { WATCH_BOOKMARK_INTERVAL_MS: '500', ...env } });
    apps.push(app);
    await app.get(ChangeFeed).started;
    return { app, base: await listening(app) };
  };

  beforeAll(async () => {
    r = await ResolverUnderTest.start({ env: { WATCH_BOOKMARK_INTERVAL_MS: '500' } });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    await r.stop();
  });

  it('does not bookmark a stream past changes it is still reading from the outbox, while the feed moves on', async () => {
    const old = [];
    for (let i = 0; i < 5; i++) old.push((await r.write(`cover/svc-${i}/prod`, `https://old-${i}.example`)).data.revision);
    const held = new Barrier();
    let armed = true;
    // A replica started after those writes, its memory starting after them (none primed), so the resume reads the outbox.
    const { base } = await replica({
      primeChanges: 0,
      beforeHistoryPage: async () => {
        if (!armed) return;
        armed = false;
        await held.wait();
      },
    });
    const since = old[0]! - 1;
    const resuming = await watch(base, `/v1/watch/cover?since=${since}`);
    await held.reached;
    const fresh = [];
    for (let i = 0; i < 3; i++) fresh.push((await r.write(`cover/svc-${i}/prod`, `https://new-${i}.example`)).data.revision);
    // Another stream of the replica is bookmarked past the new writes: the feed and its sweep went on.
    const control = await watch(base, `/v1/watch/cover?since=${fresh[2]! - 1}`);
    await control.untilBookmark(fresh[2]!);
    expect(resuming.frames).toEqual([]);
    held.open();
    const frames = await resuming.untilBookmark(fresh[2]!);
    expect(changeRevisions(frames)).toEqual([...old, ...fresh]);
    expect(orderProblems(frames, [...old, ...fresh])).toEqual([]);
  });

  it('joins a snapshot to a feed that is behind it: nothing in the snapshot is sent again', async () => {
    const first = await r.write('behind/web/prod', 'https://1.example');
    const held = new Barrier();
    let armed = false;
    const { base } = await replica({
      feedRead: async (read) => {
        if (armed && read.changes.length > 0) {
          armed = false;
          await held.wait();
        }
      },
    });
    armed = true;
    const second = await r.write('behind/web/prod', 'https://2.example');
    await held.reached; // the feed has read `second` and not passed it on
    const c = await watch(base, '/v1/watch/behind');
    const snap = await c.until((f) => f.some((x) => x.event === 'bookmark'));
    expect(snap.filter((f) => f.event === 'put').map((f) => eventOf(f).data.revision)).toEqual([second.data.revision]);
    const asOf = bookmarks(snap)[0]!.revision;
    expect(asOf).toBeGreaterThanOrEqual(second.data.revision);
    const third = await r.write('behind/api/prod', 'https://3.example');
    held.open();
    const frames = await c.untilBookmark(third.data.revision);
    expect(changeRevisions(frames)).toEqual([third.data.revision]);
    expect(orderProblems(frames, [third.data.revision])).toEqual([]);
    expect(bookmarks(frames).every((b, i, all) => i === 0 || b.revision >= all[i - 1]!.revision)).toBe(true);
    expect(first.data.revision).toBeLessThan(second.data.revision);
  });

  it('joins a snapshot to a feed that is ahead of it: the changes after the snapshot come once, in order', async () => {
    await r.write('ahead/web/prod', 'https://1.example');
    const held = new Barrier();
    let armed = true;
    const { base } = await replica({
      afterSnapshot: async () => {
        if (!armed) return;
        armed = false;
        await held.wait();
      },
    });
    const c = await watch(base, '/v1/watch/ahead');
    await held.reached;
    const later = [];
    for (let i = 0; i < 4; i++) later.push((await r.write(`ahead/svc-${i % 2}/prod`, `https://later-${i}.example`)).data.revision);
    const control = await watch(base, `/v1/watch/ahead?since=${later[3]! - 1}`);
    await control.untilBookmark(later[3]!);
    held.open();
    const frames = await c.untilBookmark(later[3]!);
    expect(frames.filter((f) => f.event === 'put' && f.id === undefined)).toHaveLength(1);
    expect(bookmarks(frames)[0]?.snapshot).toBe(true);
    expect(changeRevisions(frames)).toEqual(later);
    expect(orderProblems(frames, later)).toEqual([]);
  });

  it('lets a client resume on another replica from its last id with nothing lost or repeated', async () => {
    const a = await replica({});
    const b = await replica({});
    const start = await r.write('hop/web/prod', 'https://0.example');
    const first = await watch(a.base, `/v1/watch/hop?since=${start.data.revision}`);
    const revisions: number[] = [];
    for (let i = 0; i < 5; i++) revisions.push((await r.write(`hop/svc-${i}/prod`, `https://a-${i}.example`)).data.revision);
    const seenOnA = await first.until((f) => changeRevisions(f).length >= 3);
    first.close(); // replica A is gone mid-stream
    const lastId = [...seenOnA].reverse().find((f) => f.id !== undefined)?.id ?? String(start.data.revision);
    for (let i = 0; i < 5; i++) revisions.push((await r.write(`hop/svc-${i}/prod`, `https://b-${i}.example`)).data.revision);
    const second = await watch(b.base, '/v1/watch/hop', { 'last-event-id': lastId });
    const onB = await second.untilBookmark(revisions[revisions.length - 1]!);
    const received = [...changeRevisions(seenOnA), ...changeRevisions(onB)];
    expect(received).toEqual(revisions);
    expect(orderProblems(onB, revisions.filter((x) => x > Number(lastId)))).toEqual([]);
  });

  it('a replica started after the changes a client resumes from serves them from the memory it started with', async () => {
    const old: number[] = [];
    for (let i = 0; i < 3; i++) old.push((await r.write(`primed/svc-${i}/prod`, `https://p-${i}.example`)).data.revision);
    const late = await replica({});
    const historyReads = () => late.app.get(WatchMetrics).historyReads.get().then((m) => m.values.reduce((n, v) => n + v.value, 0));
    const before = await historyReads();
    const resuming = await watch(late.base, `/v1/watch/primed?since=${old[0]! - 1}`);
    const frames = await resuming.untilBookmark(old[2]!);
    expect(changeRevisions(frames)).toEqual(old);
    expect(await historyReads()).toBe(before);
  });

  it('stops bookmarks while PostgreSQL is unreachable, keeps streams open, resumes from memory, and goes on after', async () => {
    const fronted = await FaultProxy.forUrl(r.database.url);
    try {
      const { base } = await replica({}, {}, fronted.url);
      // A stored key bound to the tenant, as a real client holds one (verified while PostgreSQL is up).
      const key = await r.createKey(['routes:read'], 'outage');
      const before = await r.write('outage/web/prod', 'https://1.example');
      const c = await watch(base, `/v1/watch/outage?since=${before.data.revision - 1}`, undefined, key);
      await c.untilBookmark(before.data.revision);
      fronted.proxy.refuse();
      // The feed's next read fails: from then on no bookmark (the last proof cannot be renewed).
      const cutAt = c.frames.length;
      const during = await r.write('outage/web/prod', 'https://2.example'); // straight to the database
      await new Promise((resolve) => setTimeout(resolve, 2_000)); // four bookmark intervals of silence
      const afterCut = c.frames.slice(cutAt);
      expect(afterCut.filter((f) => f.event !== 'bookmark')).toEqual([]);
      // At most one bookmark could have been on its way when the cut came; none after.
      expect(afterCut.length).toBeLessThanOrEqual(1);
      expect(c.isEnded).toBe(false);
      const snapshot = await watch(base, '/v1/watch/outage', undefined, key);
      expect(snapshot.status).toBe(503);
      expect(snapshot.headers['retry-after']).toBeDefined();
      const resumed = await watch(base, `/v1/watch/outage?since=${before.data.revision - 1}`, undefined, key);
      expect(resumed.status).toBe(200);
      expect(changeRevisions(await resumed.until((f) => changeRevisions(f).length >= 1))).toEqual([before.data.revision]);
      fronted.proxy.restore();
      const frames = await c.untilBookmark(during.data.revision, 15_000);
      expect(changeRevisions(frames)).toEqual([before.data.revision, during.data.revision]);
      expect(orderProblems(frames, [before.data.revision, during.data.revision])).toEqual([]);
    } finally {
      fronted.proxy.restore();
      for (const c of clients.splice(0)) c.close();
      await Promise.all(apps.splice(0).map((a) => a.close()));
      await fronted.proxy.stop();
    }
  });
});
