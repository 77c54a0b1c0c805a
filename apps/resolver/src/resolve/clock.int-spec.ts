import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { RouteId } from '@tm/contracts';
import { monotonicClock } from './database-clock';
import { DatabaseClockProbe } from './database-clock.probe';
import { resolveOn, ResolverUnderTest } from '../resolver.test-support';

/**
 * One clock, the database's: a fill is stamped with its read's statement time, an event with its
 * write's commit time, and every age is judged on the database's clock through the offset each
 * resolver measures. Machines whose clocks are wrong (this process's wall clock and each replica's
 * local clock shifted by minutes) serve a HIT exactly as long as the TTL; times from the future
 * never keep an entry fresh; an old event applied late is not fresh.
 */
describe("freshness on the database's clock", () => {
  const TTL_S = 3;
  const env = { CACHE_TTL_SECONDS: String(TTL_S) };
  let r: ResolverUnderTest;
  /** Each replica's local clock is the monotonic one plus its skew, plus time the test moves on. */
  const skew = { ahead: 0, behind: 0 };
  let ahead: NestFastifyApplication;
  let behind: NestFastifyApplication;
  /** This process's wall clock, shifted by `wallSkew` (what the code before this test judged ages by). */
  let wallSkew = 0;

  const dbNow = async (): Promise<number> =>
    Number((await r.db.query<{ t: number }>('SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS t')).rows[0]?.t);
  const id = (route: string): RouteId => {
    const [tenant, service, environment] = route.split('/') as [string, string, string];
    return { tenant, service, environment };
  };

  beforeAll(async () => {
    const realNow = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + wallSkew);
    r = await ResolverUnderTest.start({ env });
    ahead = await ResolverUnderTest.replicaOf(r, r.database.url, { env, localClock: () => monotonicClock() + 60_000 + skew.ahead });
    behind = await ResolverUnderTest.replicaOf(r, r.database.url, { env, localClock: () => monotonicClock() - 60_000 + skew.behind });
    for (const app of [r.app, ahead, behind]) await app.get(DatabaseClockProbe).probe();
  });
  afterAll(async () => {
    await ahead.close();
    await behind.close();
    await r.stop();
    jest.restoreAllMocks();
  });

  it("a fill made on a machine whose clock is a minute ahead is stamped with the database's time, and another a minute behind serves it as a HIT for the TTL only", async () => {
    await r.write('acme/clock/prod', 'https://clock.acme.internal/');
    wallSkew = 60_000;
    const before = await dbNow();
    expect((await resolveOn(ahead, 'acme/clock/prod')).headers['x-cache']).toBe('MISS');
    const after = await dbNow();
    const entry = await r.worker.read(id('acme/clock/prod'));
    expect(entry?.knownAt).toBeGreaterThanOrEqual(before);
    expect(entry?.knownAt).toBeLessThanOrEqual(after);

    // Now the machine is a minute behind: before, the entry (stamped a minute ahead) looked as if
    // from the future, fresh for two minutes more than the TTL.
    wallSkew = -60_000;
    const hit = await resolveOn(behind, 'acme/clock/prod');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers['age']).toMatch(/^[01]$/);
    // The TTL passes on that machine (its local clock moves on; no sleeping): not fresh any more.
    skew.behind += TTL_S * 1000 + 200;
    expect((await resolveOn(behind, 'acme/clock/prod')).headers['x-cache']).toBe('MISS');
    wallSkew = 0;
  });

  it('the age a HIT reports is the one on the database clock, whichever replica serves it', async () => {
    await r.write('acme/age/prod', 'https://age.acme.internal/');
    expect((await r.resolve('acme/age/prod')).headers['x-cache']).toBe('MISS');
    // That replica's clock moves on 1.5 s: the age it reports is 1.5 s more (plus what the test took).
    skew.ahead += 1_500;
    const hit = await resolveOn(ahead, 'acme/age/prod');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers['age']).toMatch(/^[12]$/);
    expect(hit.headers['cache-control']).toMatch(/^max-age=[01]$/);
  });

  it('an event stamped in the future does not keep its entry fresh; the next fill restamps it', async () => {
    const written = await r.write('acme/future/prod', 'https://future.acme.internal/');
    await r.apply([{ ...written, time: (await dbNow()) + 3_600_000 }]);
    const first = await r.resolve('acme/future/prod');
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.body['url']).toBe('https://future.acme.internal/');
    expect((await r.worker.read(id('acme/future/prod')))?.knownAt).toBeLessThanOrEqual(await dbNow());
    expect((await r.resolve('acme/future/prod')).headers['x-cache']).toBe('HIT');
  });

  it('an old event applied late (after a backlog) is as old as its write, not fresh', async () => {
    const written = await r.write('acme/late/prod', 'https://late.acme.internal/');
    await r.apply([{ ...written, time: (await dbNow()) - (TTL_S * 1000 + 1_000) }]);
    expect((await r.worker.read(id('acme/late/prod')))?.route?.url).toBe('https://late.acme.internal/');
    expect((await r.resolve('acme/late/prod')).headers['x-cache']).toBe('MISS');
  });

  it("reports the database's clock against the machine's at /metrics", async () => {
    wallSkew = -45_000;
    await r.app.get(DatabaseClockProbe).probe();
    wallSkew = 0;
    const metrics = await r.app.inject({ method: 'GET', url: '/metrics' });
    const offset = Number(/^tm_resolver_database_clock_offset_seconds\{[^}]*\} (\S+)$/m.exec(metrics.body)?.[1]);
    // The database is 45 s ahead of a machine 45 s behind (give or take a round trip).
    expect(offset).toBeGreaterThan(44);
    expect(offset).toBeLessThan(46);
  });
});
