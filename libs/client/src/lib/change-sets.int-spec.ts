import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { deleteKeysWithPrefix } from '@tm/testing';
// The command API and the resolver in-process on one database (their test support; libs never import apps otherwise).
// eslint-disable-next-line @nx/enforce-module-boundaries
import { CommandApiUnderTest } from '../../../../apps/command-api/src/command-api.test-support';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ResolverUnderTest } from '../../../../apps/resolver/src/resolver.test-support';
import { TrafficManagerClient } from './client';
import { TrafficManagerError } from './errors';

/**
 * The SDK's change sets against the real command API and resolver (PostgreSQL behind both, the
 * resolver's watch fed from the outbox): apply, conflicts and field errors as the server gives them,
 * a session that reads its set, and lookups from memory that never see part of a set.
 */
let api: CommandApiUnderTest;
let resolver: ResolverUnderTest;
let commandUrl: string;
let resolverUrl: string;
let key: string;
const clients: TrafficManagerClient[] = [];

async function urlOf(app: NestFastifyApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  return `http://127.0.0.1:${address.port}`;
}

function client(options: Partial<ConstructorParameters<typeof TrafficManagerClient>[0]> = {}): TrafficManagerClient {
  const c = new TrafficManagerClient({ commandUrl, resolverUrl, apiKey: key, timeoutMs: 10_000, ...options });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  api = await CommandApiUnderTest.start();
  resolver = await ResolverUnderTest.start({ database: api.database, env: { WATCH_BOOKMARK_INTERVAL_MS: '200' } });
  commandUrl = await urlOf(api.app);
  resolverUrl = await urlOf(resolver.app);
  // A stored key both apps know (one database), as a service holds one.
  key = await api.createKey(['routes:write']);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  // The resolver shares the command API's database: it is closed, and the command API drops the database.
  if (resolver) {
    await resolver.app.close();
    await resolver.db.end();
    await deleteKeysWithPrefix(resolver.prefix);
    await resolver.redis.close();
  }
  await api?.stop();
});

describe('change sets through the SDK, against the command API and the resolver', () => {
  it('session.apply: one revision for the whole set, and the session’s next reads see all of it', async () => {
    const tm = client({ watch: false });
    const session = tm.session();
    const result = await session.apply(
      [
        { op: 'put', route: 'rw/a/prod', body: { url: 'https://a.rw.example' }, ifAbsent: true },
        { op: 'put', route: 'rw/b/prod', body: { endpoints: [{ id: 'x', url: 'https://x.rw.example' }] } },
      ],
      { description: 'two at once' },
    );
    expect(result.changes).toEqual([
      { route: 'rw/a/prod', op: 'put', result: 'created', revision: result.revision },
      { route: 'rw/b/prod', op: 'put', result: 'created', revision: result.revision },
    ]);
    expect(session.revision).toBe(result.revision);
    const [a, b] = await Promise.all([session.resolve('rw/a/prod'), session.resolve('rw/b/prod')]);
    expect(a).toMatchObject({ url: 'https://a.rw.example', revision: result.revision });
    expect(b).toMatchObject({ url: 'https://x.rw.example', revision: result.revision });
    expect(a?.asOf).toBeGreaterThanOrEqual(result.revision);
    expect(await tm.changeSet(result.revision)).toMatchObject({ revision: result.revision, description: 'two at once', changes: [{ route: 'rw/a/prod', op: 'put' }, { route: 'rw/b/prod', op: 'put' }] });
    const history = await tm.history('rw/a/prod');
    expect(history.items).toMatchObject([{ revision: result.revision, op: 'put', changeSetSize: 2, description: 'two at once' }]);
  });

  it('a failed compare is a conflict listing each route; a bad change a bad_request naming its field; nothing applied', async () => {
    const tm = client({ watch: false });
    const first = await tm.apply([{ op: 'put', route: 'cf/a/prod', body: { url: 'https://a1.cf.example' } }]);
    const conflict = await tm
      .apply([
        { op: 'put', route: 'cf/a/prod', body: { url: 'https://a2.cf.example' }, ifRevision: first.revision - 1 },
        { op: 'put', route: 'cf/b/prod', body: { url: 'https://b.cf.example' }, ifAbsent: true },
      ])
      .catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(TrafficManagerError);
    expect(conflict).toMatchObject({ code: 'conflict', status: 412, conflicts: [{ route: 'cf/a/prod', expected: first.revision - 1, actual: first.revision }] });
    expect(await tm.get('cf/b/prod')).toBeNull();
    const bad = await tm
      .apply([
        { op: 'delete', route: 'cf/a/prod' },
        { op: 'put', route: 'cf/c/prod', body: { endpoints: [{ id: 'x', url: 'https://x.cf.example', weight: 5000 }] } },
      ])
      .catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'bad_request', status: 400 });
    expect((bad as TrafficManagerError).errors?.map((e) => e.field)).toEqual(['changes[1].body.endpoints.0.weight']);
    expect((await tm.get('cf/a/prod'))?.revision).toBe(first.revision);
  });

  it('rollback and revert are change sets the session observes; a revert of a route changed since is a conflict', async () => {
    const tm = client({ watch: false });
    const v1 = await tm.put('ud/a/prod', { url: 'https://v1.ud.example' });
    const v2 = await tm.put('ud/a/prod', { url: 'https://v2.ud.example' });
    const session = tm.session();
    const back = await tm.run(session, () => tm.rollback('ud/a/prod', v1.revision, { ifRevision: v2.revision }));
    expect(session.revision).toBe(back.revision);
    expect((await tm.get('ud/a/prod'))?.url).toBe('https://v1.ud.example');
    await expect(tm.rollback('ud/a/prod', v1.revision, { ifRevision: v2.revision })).rejects.toMatchObject({ code: 'conflict', status: 412 });
    const reverted = await tm.revert(back.revision);
    expect(reverted.changes).toEqual([{ route: 'ud/a/prod', op: 'put', result: 'updated', revision: reverted.revision }]);
    expect((await tm.get('ud/a/prod'))?.url).toBe('https://v2.ud.example');
    await expect(tm.revert(back.revision)).rejects.toMatchObject({ code: 'conflict', status: 409, conflicts: [{ route: 'ud/a/prod', expected: back.revision, actual: reverted.revision }] });
  });

  it('1,000 lookups from memory racing a 500-route change set never see a mix of it and the state before', async () => {
    const writer = client({ watch: false });
    const routes = Array.from({ length: 500 }, (_, i) => `race/s${i}/prod`);
    const before = await writer.apply(routes.map((route) => ({ op: 'put' as const, route, body: { url: `https://old.example/${route}` } })));
    const tm = client();
    // The tenant's watch, synced at (at least) the first set: lookups are answered from memory.
    const first = await tm.resolve(routes[0] as string, { minRevision: before.revision });
    expect(first?.url).toBe(`https://old.example/${routes[0]}`);
    for (let i = 0; i < 200 && tm.resolveCached(routes[0] as string, before.revision) === undefined; i++) await new Promise((r) => setTimeout(r, 25));
    expect(tm.resolveCached(routes[0] as string, before.revision)?.source).toBe('memory');

    /** One lookup: every route of the set, in one synchronous pass over the view; 'old', 'new' or 'mixed'. */
    const lookup = (): 'old' | 'new' | 'mixed' => {
      let olds = 0;
      let news = 0;
      for (const route of routes) {
        const answer = tm.resolveCached(route, before.revision);
        if (answer?.url === `https://old.example/${route}`) olds++;
        else if (answer?.url === `https://new.example/${route}`) news++;
      }
      return olds === routes.length ? 'old' : news === routes.length ? 'new' : 'mixed';
    };
    const seen: string[] = [lookup()];
    const set = writer.apply(routes.map((route) => ({ op: 'put' as const, route, body: { url: `https://new.example/${route}` } })));
    let done: number | undefined;
    void set.then((r) => (done = r.revision));
    // Lookups between the watch's reads of the set's frames (each turn of the event loop), until
    // 1,000 were made and the set has been seen whole.
    while (seen.length < 1000 || seen[seen.length - 1] !== 'new') {
      await new Promise((r) => setImmediate(r));
      seen.push(lookup());
      if (seen.length > 1_000_000) throw new Error('the set never arrived');
    }
    const result = await set;
    expect(done).toBe(result.revision);
    expect(result.changes.every((c) => c.result === 'updated')).toBe(true);
    expect(seen.length).toBeGreaterThanOrEqual(1000);
    expect(seen.filter((s) => s === 'mixed')).toEqual([]);
    expect(seen[0]).toBe('old');
    expect(seen.indexOf('new')).toBeGreaterThan(0);
    // Never back: once new, always new.
    expect(seen.slice(seen.indexOf('new')).every((s) => s === 'new')).toBe(true);
  });
});
