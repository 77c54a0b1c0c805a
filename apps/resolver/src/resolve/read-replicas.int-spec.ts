import type { Client } from 'pg';
import type { Counter } from 'prom-client';
import { ReplicatedPostgres } from '@tm/testing';
import { ResolverUnderTest } from '../resolver.test-support';
import { bookmarkOf, eventOf, listening, WatchClient } from '../watch/watch.test-support';
import { ReadTier } from './read-tier';
import { ResolverMetrics } from './resolver.metrics';

/** The primary's clock now (ms since the epoch), as the cache's times are. */
async function primaryNow(db: Client): Promise<number> {
  const { rows } = await db.query<{ t: number }>('SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS t');
  return Number(rows[0]?.t);
}

async function count(counter: Counter, labels: Record<string, string>): Promise<number> {
  const { values } = await counter.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((sum, v) => sum + v.value, 0);
}

describe('read replicas (a real streaming replica: DATABASE_READ_URL)', () => {
  let cluster: ReplicatedPostgres;
  let r: ResolverUnderTest;
  let metrics: ResolverMetrics;
  let tier: ReadTier;
  const reads = (read: string, target: string) => count(metrics.readsByTarget, { read, target });
  const skips = (reason: string) => count(metrics.replicaSkips, { reason });

  beforeAll(async () => {
    cluster = await ReplicatedPostgres.start();
    r = await ResolverUnderTest.start({
      database: { name: 'traffic_manager', url: cluster.primaryUrl, drop: () => Promise.resolve() },
      env: { DATABASE_READ_URL: cluster.replicaUrl, DATABASE_READ_TIMEOUT_MS: '1000' },
    });
    metrics = r.app.get(ResolverMetrics);
    tier = r.app.get(ReadTier);
    await tier.checkReplicas();
  }, 120_000);

  afterAll(async () => {
    await r?.stop();
    await cluster?.stop();
  });

  afterEach(async () => {
    await cluster.resumeReplay().catch(() => undefined);
    await cluster.caughtUp();
    await tier.checkReplicas();
  });

  it('serves a miss and a strong read from the replica once it has replayed what they need, known current at the primary read time', async () => {
    const { data } = await r.write('acme/replica/prod', 'https://one.acme.internal/');
    await cluster.caughtUp();
    const before = await reads('miss', 'replica');
    const t0 = await primaryNow(r.db);
    const miss = await r.resolve('acme/replica/prod');
    const t1 = await primaryNow(r.db);
    expect(miss.status).toBe(200);
    expect(miss.headers).toMatchObject({ 'x-cache': 'MISS', 'x-route-revision': String(data.revision) });
    expect(await reads('miss', 'replica')).toBe(before + 1);
    // G3: the entry's time is the primary's revision read (after the request came), never later than the primary's truth.
    const entry = await r.worker.read({ tenant: 'acme', service: 'replica', environment: 'prod' });
    expect(entry?.asOf).toBeGreaterThanOrEqual(data.revision);
    expect(entry?.knownAt).toBeGreaterThanOrEqual(t0);
    expect(entry?.knownAt).toBeLessThanOrEqual(t1);

    const strongBefore = await reads('strong', 'replica');
    const strong = await r.resolve('acme/replica/prod', { query: 'consistency=strong' });
    expect(strong.headers['x-cache']).toBe('BYPASS');
    expect(strong.body['url']).toBe('https://one.acme.internal/');
    expect(await reads('strong', 'replica')).toBe(strongBefore + 1);
  });

  it('with replay paused, a write is still read by X-Min-Revision, strong and default misses (from the primary), and 412 is the primary`s', async () => {
    await cluster.pauseReplay();
    await tier.checkReplicas();
    const { data } = await r.write('acme/paused/prod', 'https://paused.acme.internal/');
    const primaryBefore = await reads('miss', 'primary');
    const pausedBefore = await skips('paused');

    const session = await r.resolve('acme/paused/prod', { headers: { 'x-min-revision': String(data.revision) } });
    expect(session.status).toBe(200);
    expect(session.body['url']).toBe('https://paused.acme.internal/');
    expect(Number(session.headers['x-consistency-revision'])).toBeGreaterThanOrEqual(data.revision);

    const strong = await r.resolve('acme/paused/prod', { query: 'consistency=strong' });
    expect(strong.body['url']).toBe('https://paused.acme.internal/');

    const other = await r.write('acme/paused/other', 'https://other.acme.internal/');
    const t0 = await primaryNow(r.db);
    const miss = await r.resolve('acme/paused/other');
    expect(miss.body['url']).toBe('https://other.acme.internal/');
    const entry = await r.worker.read({ tenant: 'acme', service: 'paused', environment: 'other' });
    expect(entry?.asOf).toBeGreaterThanOrEqual(other.data.revision);
    expect(entry?.knownAt).toBeGreaterThanOrEqual(t0);
    expect(entry?.knownAt).toBeLessThanOrEqual(await primaryNow(r.db));

    expect(await reads('miss', 'primary')).toBeGreaterThanOrEqual(primaryBefore + 2);
    expect(await skips('paused')).toBeGreaterThan(pausedBefore);

    // Beyond the primary's revision: 412; behind the replica only: answered (above), never 412.
    const ahead = await r.resolve('acme/paused/prod', { headers: { 'x-min-revision': String(other.data.revision + 1000) } });
    expect(ahead.status).toBe(412);
  });

  it('a replica that lags without being paused is skipped as behind for what it has not replayed', async () => {
    await cluster.pauseReplay();
    // The tier has not checked since: it still thinks the replica replays, tries it and finds it behind.
    const { data } = await r.write('acme/behind/prod', 'https://behind.acme.internal/');
    const behindBefore = await skips('behind');
    const answer = await r.resolve('acme/behind/prod', { headers: { 'x-min-revision': String(data.revision) } });
    expect(answer.body['url']).toBe('https://behind.acme.internal/');
    expect(await skips('behind')).toBe(behindBefore + 1);
  });

  it('a watch snapshot comes from the replica when it has replayed, from the primary when paused, and always reflects the write', async () => {
    const base = await listening(r.app);
    const first = await r.write('snap/web/prod', 'https://a.snap.internal/');
    await cluster.caughtUp();
    const replicaBefore = await reads('snapshot', 'replica');
    const t0 = await primaryNow(r.db);
    const served = await WatchClient.open(base, '/v1/watch/snap');
    const frames = await served.until((f) => f.some((x) => x.event === 'bookmark'));
    served.close();
    expect(frames.filter((f) => f.event === 'put').map((f) => eventOf(f).data.url)).toEqual(['https://a.snap.internal/']);
    const bookmark = bookmarkOf(frames.find((f) => f.event === 'bookmark') as (typeof frames)[number]);
    expect(bookmark.snapshot).toBe(true);
    expect(bookmark.revision).toBeGreaterThanOrEqual(first.data.revision);
    expect(Date.parse(bookmark.knownCurrentAt)).toBeLessThanOrEqual(await primaryNow(r.db));
    expect(Date.parse(bookmark.knownCurrentAt)).toBeGreaterThanOrEqual(t0 - 2_000);
    expect(await reads('snapshot', 'replica')).toBe(replicaBefore + 1);

    await cluster.pauseReplay();
    await tier.checkReplicas();
    const second = await r.write('snap/web/staging', 'https://b.snap.internal/');
    // The newest proof covers the write (a snapshot takes one at most 1.5 s old; the paused replica is skipped anyway).
    await tier.primaryRevisionAfterNow();
    const primaryBefore = await reads('snapshot', 'primary');
    const paused = await WatchClient.open(base, '/v1/watch/snap');
    const pausedFrames = await paused.until((f) => f.some((x) => x.event === 'bookmark'));
    paused.close();
    expect(pausedFrames.filter((f) => f.event === 'put').map((f) => eventOf(f).data.url)).toEqual(['https://a.snap.internal/', 'https://b.snap.internal/']);
    expect(bookmarkOf(pausedFrames.find((f) => f.event === 'bookmark') as (typeof frames)[number]).revision).toBeGreaterThanOrEqual(second.data.revision);
    expect(await reads('snapshot', 'primary')).toBe(primaryBefore + 1);
  });

  it('a resume from before memory reads the outbox from the replica, with no gap into memory', async () => {
    const start = (await r.write('hist/web/a', 'https://a.hist.internal/')).data.revision;
    const written = [start];
    for (const e of ['b', 'c', 'd']) written.push((await r.write(`hist/web/${e}`, `https://${e}.hist.internal/`)).data.revision);
    await cluster.caughtUp();
    // A resolver replica started now, its memory beginning at the store's revision (none primed), so the resume reads the outbox.
    const late = await ResolverUnderTest.replicaOf(r, cluster.primaryUrl, { env: { DATABASE_READ_URL: cluster.replicaUrl }, watchHooks: { primeChanges: 0 } });
    try {
      await late.get(ReadTier).checkReplicas();
      const lateMetrics = late.get(ResolverMetrics);
      const after = (await r.write('hist/web/e', 'https://e.hist.internal/')).data.revision;
      const base = await listening(late);
      const watch = await WatchClient.open(base, `/v1/watch/hist?since=${start - 1}`);
      const frames = await watch.until((f) => f.some((x) => x.event === 'put' && eventOf(x).data.revision === after));
      watch.close();
      expect(frames.filter((f) => f.event === 'put').map((f) => eventOf(f).data.revision)).toEqual([...written, after]);
      expect(await count(lateMetrics.readsByTarget, { read: 'history', target: 'replica' })).toBeGreaterThanOrEqual(1);
    } finally {
      await late.close();
    }
  });

  it('a stopped replica is skipped with no error to the client, and used again once it is back', async () => {
    cluster.killReplica();
    const { data } = await r.write('acme/dead/prod', 'https://dead.acme.internal/');
    const before = (await skips('error')) + (await skips('timeout')) + (await skips('down'));
    expect((await r.resolve('acme/dead/prod')).body['url']).toBe('https://dead.acme.internal/');
    expect((await r.resolve('acme/dead/prod', { query: 'consistency=strong' })).status).toBe(200);
    expect((await r.resolve('acme/dead/prod', { headers: { 'x-min-revision': String(data.revision) } })).status).toBe(200);
    expect((await skips('error')) + (await skips('timeout')) + (await skips('down'))).toBeGreaterThan(before);
    // Readiness does not fail for a replica (the primary serves); the metric says it is down.
    expect((await r.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    await tier.checkReplicas();
    expect((await metrics.replicaUp.get()).values[0]?.value).toBe(0);

    await cluster.startReplica();
    await cluster.caughtUp();
    await tier.checkReplicas();
    const before2 = await reads('strong', 'replica');
    expect((await r.resolve('acme/dead/prod', { query: 'consistency=strong' })).body['url']).toBe('https://dead.acme.internal/');
    expect(await reads('strong', 'replica')).toBe(before2 + 1);
  }, 60_000);
});
