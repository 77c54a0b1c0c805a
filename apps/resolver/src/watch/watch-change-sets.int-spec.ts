import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { commitChangeSetFixture, type FixtureChange } from '@tm/testing';
import { ResolverUnderTest } from '../resolver.test-support';
import { ChangeFeed } from './change-feed';
import { eventOf, listening, orderProblems, WatchClient, type Frame } from './watch.test-support';

/** The put and delete frames of revision `r` (an event's data.revision), in order. */
const framesOf = (frames: Frame[], r: number) => frames.filter((f) => (f.event === 'put' || f.event === 'delete') && eventOf(f).data.revision === r);
/** Each change frame's route key and whether it has an id line. */
const shape = (frames: Frame[]) => frames.map((f) => [eventOf(f).subject, f.id ?? null]);
/** The frames from the first change of `r` to its last: nothing else may fall between them. */
function between(frames: Frame[], r: number): Frame[] {
  const of = (f: Frame) => (f.event === 'put' || f.event === 'delete') && eventOf(f).data.revision === r;
  const first = frames.findIndex(of);
  const last = frames.length - 1 - [...frames].reverse().findIndex(of);
  return first < 0 ? [] : frames.slice(first, last + 1);
}
/** The id a client would resume from after it read `frames` (EventSource's last event id). */
const lastId = (frames: Frame[]) => [...frames].reverse().find((f) => f.id !== undefined)?.id;

const routes = (prefix: string, services: string[], envs: number) => services.flatMap((s) => Array.from({ length: envs }, (_, i) => `${prefix}/${s}/env-${i + 1}`));
/** Puts of `keys`, given out of route order (reversed), as a change set may list them. */
const puts = (keys: string[], tag: string): FixtureChange[] => [...keys].reverse().map((route) => ({ route, url: `https://${tag}.example/${route}` }));

/**
 * Change sets on the watch (docs/guarantees.md, "Watch", Order): the events of one revision share it,
 * in route key order, only the last of a stream's share carries `id: R`, no bookmark falls inside
 * them, a filtered stream gets its share together, a revision larger than a history page comes
 * whole, and a client cut inside a revision's frames resumes before it and gets it whole.
 */
describe('watch: change sets of many routes (real PostgreSQL)', () => {
  let r: ResolverUnderTest;
  let base: string;
  let app: NestFastifyApplication;
  const clients: WatchClient[] = [];
  const watch = async (path: string, headers?: Record<string, string>) => {
    const c = await WatchClient.open(base, path, { headers });
    clients.push(c);
    return c;
  };
  /** Revisions committed before the replica started: a resume from before them reads the outbox. */
  let small: number;
  let large: number;
  const largeKeys = routes('bulk', ['a', 'b', 'c'], 200);

  beforeAll(async () => {
    r = await ResolverUnderTest.start({ env: { WATCH_BOOKMARK_INTERVAL_MS: '500' } });
    small = (await commitChangeSetFixture(r.db, puts(routes('acme', ['web', 'api'], 2), 'v1'))).revision;
    // 600 routes at one revision: more than a page of the outbox a resume reads (HISTORY_PAGE, 500).
    large = (await commitChangeSetFixture(r.db, puts(largeKeys, 'v1'))).revision;
    // A replica whose memory starts after them (none primed): resumes from before read the outbox.
    app = await ResolverUnderTest.replicaOf(r, r.database.url, { watchHooks: { primeChanges: 0 }, env: { WATCH_BOOKMARK_INTERVAL_MS: '500' } });
    await app.get(ChangeFeed).started;
    base = await listening(app);
  }, 60_000);
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await app.close();
    await r.stop();
  });

  it('a resume from the outbox sends each revision whole, in route key order, the id line on its last frame only, even past a page', async () => {
    const c = await watch('/v1/watch?since=0');
    const frames = await c.untilBookmark(large);
    const smallFrames = framesOf(frames, small);
    expect(shape(smallFrames)).toEqual(
      [...routes('acme', ['web', 'api'], 2)].sort().map((key, i, all) => [key, i === all.length - 1 ? String(small) : null]),
    );
    const largeFrames = framesOf(frames, large);
    expect(largeFrames).toHaveLength(600);
    expect(largeFrames.map((f) => eventOf(f).subject)).toEqual([...largeKeys].sort());
    expect(largeFrames.filter((f) => f.id !== undefined).map((f) => f.id)).toEqual([String(large)]);
    expect(largeFrames[599]?.id).toBe(String(large));
    expect(between(frames, large).every((f) => f.event !== 'bookmark' && f.event !== 'health')).toBe(true);
    expect(orderProblems(frames, [small, large])).toEqual([]);
  });

  it('live: every stream gets its share of a revision together, the id on its last frame, nothing between them', async () => {
    const tenant = await watch(`/v1/watch/acme?since=${large}`);
    const web = await watch(`/v1/watch/acme?since=${large}&service=web`);
    const all = await watch(`/v1/watch?since=${large}`);
    await Promise.all([tenant, web, all].map((c) => c.untilBookmark(large)));
    const keys = [...routes('acme', ['web', 'api', 'db'], 2), 'other/web/prod'];
    const { revision } = await commitChangeSetFixture(r.db, puts(keys, 'v2'));
    const expectShare = async (c: WatchClient, share: string[]) => {
      const frames = await c.untilBookmark(revision);
      const mine = framesOf(frames, revision);
      expect(shape(mine)).toEqual([...share].sort().map((key, i) => [key, i === share.length - 1 ? String(revision) : null]));
      // Every frame of the share has changesetsize: the whole set's size, whatever the filter.
      expect(mine.map((f) => eventOf(f).changesetsize)).toEqual(share.map(() => keys.length));
      expect(between(frames, revision)).toHaveLength(share.length);
      expect(orderProblems(frames, [revision])).toEqual([]);
    };
    await expectShare(tenant, keys.filter((k) => k.startsWith('acme/')));
    await expectShare(web, keys.filter((k) => k.startsWith('acme/web/')));
    await expectShare(all, keys);
  });

  it('a client cut inside a revision’s frames resumes with the revision before it and gets it whole', async () => {
    const deleted = largeKeys.filter((_, i) => i % 3 === 0);
    // The revision the deletion will take: the client cuts its connection once it read 50 of its 200 frames.
    const next = large + 2;
    const c = await WatchClient.open(base, `/v1/watch/bulk?since=${large}`, { cutWhen: (frames) => framesOf(frames, next).length === 50 });
    clients.push(c);
    await c.untilBookmark(large);
    const { revision } = await commitChangeSetFixture(r.db, deleted.map((route) => ({ route, url: null })));
    expect(revision).toBe(next);
    await c.untilEnded();
    expect(framesOf(c.frames, revision)).toHaveLength(50);
    expect(framesOf(c.frames, revision).every((f) => f.id === undefined)).toBe(true);
    const resumeFrom = lastId(c.frames);
    expect(Number(resumeFrom)).toBeLessThan(revision);
    expect(Number(resumeFrom)).toBeGreaterThanOrEqual(large);

    const resumed = await watch('/v1/watch/bulk', { 'last-event-id': String(resumeFrom) });
    const again = await resumed.untilBookmark(revision);
    const whole = framesOf(again, revision);
    expect(whole.map((f) => [f.event, eventOf(f).subject])).toEqual([...deleted].sort().map((key) => ['delete', key]));
    expect(whole.filter((f) => f.id !== undefined).map((f) => f.id)).toEqual([String(revision)]);
    expect(whole[whole.length - 1]?.id).toBe(String(revision));
    expect(orderProblems(again, [revision])).toEqual([]);
  });
});
