import { createClient } from 'redis';
import { Kafka, logLevel } from 'kafkajs';
import { testInfra, TestStack, TopicReader } from '@tm/testing';
import { eventually, metric, query, write } from './support';

type Hash = Record<string, string>;

describe('invalidation worker (processes, real PostgreSQL, Redis and Kafka)', () => {
  let stack: TestStack;
  let redis: ReturnType<typeof createClient>;
  beforeAll(async () => {
    stack = await TestStack.start({ apps: ['command-api', 'outbox-relay', 'invalidation-worker'] });
    redis = createClient({ url: testInfra().redisUrl });
    await redis.connect();
  }, 120_000);
  afterAll(async () => {
    await redis?.close();
    await stack?.stop();
  });

  const entry = (route: string): Promise<Hash> => redis.hGetAll(`${stack.environment.keyPrefix}route:{${route}}`);

  /** Messages of the topic that the worker's group has not committed. */
  async function uncommitted(): Promise<number> {
    const admin = new Kafka({ clientId: 'tm-test', brokers: testInfra().kafkaBrokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const topic = stack.environment.topic;
      const [ends, [committed]] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId: stack.environment.env['KAFKA_CONSUMER_GROUP'] ?? '', topics: [topic] }),
      ]);
      return ends.reduce((sum, end) => {
        const done = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
        return sum + Math.max(0, Number(end.high) - Math.max(0, Number(done)));
      }, 0);
    } finally {
      await admin.disconnect();
    }
  }

  /** Every route the database has, and every route the cache has an answer for, agree (G6). */
  async function cacheEqualsDatabase(): Promise<string[]> {
    const rows = await query<{ key: string; url: string; revision: number }>(
      stack.environment.database.url,
      `SELECT t.slug || '/' || s.name || '/' || e.environment AS key, e.url, e.revision::int
         FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id`,
    );
    const database = new Map(rows.map((r) => [r.key, r]));
    const differences: string[] = [];
    for await (const keys of redis.scanIterator({ MATCH: `${stack.environment.keyPrefix}route:*`, COUNT: 500 })) {
      for (const key of keys) {
        const route = key.slice(`${stack.environment.keyPrefix}route:{`.length, -1);
        const hash = await redis.hGetAll(key);
        const db = database.get(route);
        if (hash['s'] === 'p' && (db?.url !== hash['u'] || db?.revision !== Number(hash['r']))) differences.push(`${route}: cache ${hash['u']}@${hash['r']}, db ${db?.url}@${db?.revision}`);
        if (hash['s'] === 'a' && db) differences.push(`${route}: cache absent, db ${db.url}`);
      }
    }
    return differences;
  }

  it('a write reaches the cache as the event answer (refresh mode); a delete leaves an absent entry', async () => {
    const put = await write(stack.app('command-api'), 'acme/web/prod', 'https://web.acme.internal/');
    await eventually(async () => (await entry('acme/web/prod'))['asof'] === String(put.revision), 20_000, 'the event applied');
    expect(await entry('acme/web/prod')).toMatchObject({ s: 'p', u: 'https://web.acme.internal/', r: String(put.revision), fence: String(put.revision) });
    const del = await write(stack.app('command-api'), 'acme/web/prod', null);
    await eventually(async () => (await entry('acme/web/prod'))['asof'] === String(del.revision), 20_000, 'the delete applied');
    expect((await entry('acme/web/prod'))['s']).toBe('a');
    expect(await metric(stack.app('invalidation-worker'), 'tm_worker_events_total')).toBeGreaterThanOrEqual(2);
  });

  it('a message that is not a valid event goes to the dead-letter topic with the reason, and the worker goes on', async () => {
    const kafka = new Kafka({ clientId: 'tm-test', brokers: testInfra().kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: stack.environment.topic, messages: [{ key: 'acme/web/prod', value: 'this is not json' }] });
    await producer.disconnect();
    const dlq = await TopicReader.start(`${stack.environment.topic}.dlq`);
    try {
      const [dead] = await dlq.waitFor((m) => m.length >= 1);
      expect(dead).toMatchObject({ key: 'acme/web/prod', value: 'this is not json', headers: { 'tm-dlq-reason': 'not JSON' } });
    } finally {
      await dlq.stop();
    }
    const after = await write(stack.app('command-api'), 'acme/web/prod', 'https://after.acme.internal/');
    await eventually(async () => (await entry('acme/web/prod'))['asof'] === String(after.revision), 20_000, 'later events still applied');
  });

  it('killed mid-stream and restarted, it resumes from its committed offset and every route converges', async () => {
    const writes = Array.from({ length: 120 }, (_, i) => ({ route: `acme/svc-${i % 6}/env-${i % 4}`, url: i % 13 === 12 ? null : `https://w${i}.acme.internal/` }));
    const writing = (async () => {
      for (const w of writes) await write(stack.app('command-api'), w.route, w.url);
    })();
    await eventually(async () => ((await metric(stack.app('invalidation-worker'), 'tm_worker_events_total')) ?? 0) > 20, 20_000, 'some events applied');
    await stack.app('invalidation-worker').kill();
    await writing;
    await stack.restart('invalidation-worker');
    const clock = (await query<{ revision: number }>(stack.environment.database.url, 'SELECT revision::int FROM store_revision'))[0]?.revision;
    await eventually(
      async () => {
        const routes = await query<{ key: string; revision: number }>(
          stack.environment.database.url,
          `SELECT route_key AS key, max(revision)::int AS revision FROM outbox GROUP BY route_key`,
        );
        for (const r of routes) if ((await entry(r.key))['fence'] !== String(r.revision)) return false;
        return true;
      },
      60_000,
      `every route's last event (up to revision ${clock}) applied`,
    );
    expect(await cacheEqualsDatabase()).toEqual([]);
  }, 120_000);

  it('once events stop, the group commits every applied offset within the commit interval, with no further event', async () => {
    const last = await write(stack.app('command-api'), 'acme/idle/prod', 'https://idle.acme.internal/');
    await eventually(async () => (await entry('acme/idle/prod'))['asof'] === String(last.revision), 20_000, 'the event applied');
    await eventually(async () => (await uncommitted()) === 0, 5_000, 'the committed offsets at the end of the topic');
  });

  it('SIGTERM commits the applied offsets that wait for the interval before leaving the group', async () => {
    await stack.app('invalidation-worker').stop();
    const worker = await stack.restart('invalidation-worker', { WORKER_COMMIT_INTERVAL_MS: '10000' });
    // The first commit after a quiet time goes at once; the ones after it wait for the interval.
    const first = await write(stack.app('command-api'), 'acme/sigterm/prod', 'https://first.acme.internal/');
    await eventually(async () => (await entry('acme/sigterm/prod'))['asof'] === String(first.revision), 20_000, 'the first event applied');
    await eventually(async () => (await uncommitted()) === 0, 5_000, 'the first commit');
    let last = first;
    for (const env of ['a', 'b', 'c']) last = await write(stack.app('command-api'), `acme/sigterm/${env}`, `https://${env}.acme.internal/`);
    await eventually(async () => (await entry('acme/sigterm/c'))['asof'] === String(last.revision), 20_000, 'the later events applied');
    expect(await uncommitted()).toBeGreaterThan(0);
    expect(await worker.stop()).toEqual({ code: 0, signal: null });
    expect(await uncommitted()).toBe(0);
  }, 60_000);
});
