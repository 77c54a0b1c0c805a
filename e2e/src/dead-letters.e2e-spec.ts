import { ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { createClient } from 'redis';
import { deleteTopics, FaultProxy, testInfra, TestStack, TopicReader, type AppProcess } from '@tm/testing';
import { dlqCommand, eventually, write } from './support';

const MAX_ATTEMPTS = 3;

/** The sum of a metric's samples whose labels include `labels` (0 when there is none). */
async function metricValue(app: AppProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** Log lines of an app (JSON) at `level` or above whose message matches. */
function logged(app: AppProcess, level: number, pattern: RegExp): string[] {
  return app.output.filter((line) => {
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      return (entry.level ?? 0) >= level && pattern.test(entry.msg ?? '');
    } catch {
      return false;
    }
  });
}

/**
 * Per-message failures (docs/guarantees.md, "Events"; issue 12, 4.5): one message the worker cannot apply,
 * or cannot dead-letter, must not stall its partition; an outage must not dead-letter anything.
 * One partition, so that every route here shares it.
 */
describe('per-message failures and the dead-letter topic (processes, real PostgreSQL, Redis and Kafka)', () => {
  let stack: TestStack;
  let redis: ReturnType<typeof createClient>;
  let kafka: Kafka;
  let admin: Admin;
  let topic: string;
  let dlq: string;
  let poison: { revision: number };
  beforeAll(async () => {
    stack = await TestStack.start({
      apps: ['command-api', 'outbox-relay', 'invalidation-worker'],
      env: { KAFKA_TOPIC_PARTITIONS: '1', WORKER_MESSAGE_MAX_ATTEMPTS: String(MAX_ATTEMPTS), WORKER_MAX_BACKOFF_MS: '500' },
    });
    topic = stack.environment.topic;
    dlq = `${topic}.dlq`;
    redis = createClient({ url: testInfra().redisUrl });
    await redis.connect();
    kafka = new Kafka({ clientId: 'tm-test', brokers: testInfra().kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
  }, 120_000);
  afterAll(async () => {
    await admin?.disconnect();
    await redis?.close();
    await stack?.stop();
  });

  const api = () => stack.app('command-api');
  const worker = () => stack.app('invalidation-worker');
  // The cache's key of a route (libs/route-cache: one hash tag per route).
  const cacheKey = (route: string) => `${stack.environment.keyPrefix}route:{${route}}`;
  const applied = async (route: string, revision: number) => (await redis.hGetAll(cacheKey(route)))['fence'] === String(revision);
  const dlqEnd = async () => Number((await admin.fetchTopicOffsets(dlq))[0]?.high ?? 0);
  const tool = (args: string[]) => dlqCommand(args, { KAFKA_BROKERS: testInfra().kafkaBrokers, KAFKA_ROUTE_EVENTS_TOPIC: topic });

  async function produce(key: string, value: string): Promise<void> {
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic, messages: [{ key, value }] });
    } finally {
      await producer.disconnect();
    }
  }

  it("WRONGTYPE at one route's key stalls nothing: the others in its partition and later events are applied, it is dead-lettered after N tries with the reason", async () => {
    await redis.set(cacheKey('acme/poison/prod'), 'not a hash');
    poison = await write(api(), 'acme/poison/prod', 'https://poison.acme.internal/');
    const others: { route: string; revision: number }[] = [];
    for (let i = 0; i < 5; i++) others.push({ route: `acme/ok-${i}/prod`, ...(await write(api(), `acme/ok-${i}/prod`, `https://ok${i}.acme.internal/`)) });
    const reader = await TopicReader.start(dlq);
    try {
      const [dead] = await reader.waitFor((m) => m.length >= 1);
      expect(dead).toMatchObject({
        key: 'acme/poison/prod',
        headers: { 'tm-dlq-attempts': String(MAX_ATTEMPTS), 'tm-dlq-topic': topic, 'tm-dlq-partition': '0', 'content-type': 'application/cloudevents+json' },
      });
      expect(dead?.headers['tm-dlq-reason']).toMatch(/^WRONGTYPE/);
      expect(dead?.headers['tm-dlq-offset']).toMatch(/^\d+$/);
      expect((JSON.parse(dead?.value ?? '{}') as { data: unknown }).data).toMatchObject({ url: 'https://poison.acme.internal/', revision: poison.revision });
    } finally {
      await reader.stop();
    }
    for (const o of others) await eventually(() => applied(o.route, o.revision), 20_000, `${o.route} applied`);
    const later = await write(api(), 'acme/later/prod', 'https://later.acme.internal/');
    await eventually(() => applied('acme/later/prod', later.revision), 20_000, 'a later event applied');
    expect(await metricValue(worker(), 'tm_worker_dead_lettered_total', { reason: 'redis_wrongtype' })).toBe(1);
    // Tried MAX_ATTEMPTS times: the failures before the last are retries.
    expect(await metricValue(worker(), 'tm_worker_errors_total', { stage: 'message' })).toBe(MAX_ATTEMPTS - 1);
    expect(logged(worker(), 40, /^dead-lettered .*\(key acme\/poison\/prod\) after 3 attempt\(s\): WRONGTYPE/)).toHaveLength(1);
    // The value at the key is left as it was.
    expect(await redis.get(cacheKey('acme/poison/prod'))).toBe('not a hash');
  }, 60_000);

  it('npm run dlq -- list shows it; once the cause is removed, npm run dlq -- replay publishes it again and the worker applies it', async () => {
    const list = await tool(['list']);
    expect(list).toMatchObject({ code: 0 });
    const lines = list.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^0:\d+ {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}acme\/poison\/prod {2}after 3 attempt\(s\): WRONGTYPE/);
    const json = await tool(['list', '--json']);
    const [letter] = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { partition: number; offset: string; key: string; headers: Record<string, string> });
    expect(letter).toMatchObject({ partition: 0, key: 'acme/poison/prod', headers: { 'tm-dlq-attempts': '3' } });
    const offset = letter?.offset ?? '';
    // A range past it is empty; bad usage is exit 2.
    expect((await tool(['list', '--from', String(Number(offset) + 1)])).stdout).toBe('');
    expect(await tool(['list', '--limit', 'many'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--limit expects a whole number') });
    expect(await tool(['frobnicate'])).toMatchObject({ code: 2, stderr: expect.stringContaining('usage: dlq list') });

    await redis.del(cacheKey('acme/poison/prod'));
    const replay = await tool(['replay', '--from', offset, '--to', offset]);
    expect(replay).toMatchObject({ code: 0, stdout: `replayed 0:${offset} acme/poison/prod\n` });
    await eventually(() => applied('acme/poison/prod', poison.revision), 20_000, 'the replayed event applied');
    expect(await redis.hGetAll(cacheKey('acme/poison/prod'))).toMatchObject({ s: 'p', u: 'https://poison.acme.internal/', r: String(poison.revision) });
    // Applied, not dead-lettered again.
    expect(await dlqEnd()).toBe(Number(offset) + 1);
  }, 90_000);

  it('Redis cut (connections dropped and refused): nothing is dead-lettered, every event is applied after the restore', async () => {
    const { proxy, url } = await FaultProxy.forUrl(testInfra().redisUrl);
    try {
      // One try only: an outage taken for a message's own failure would dead-letter at once.
      const cut = await stack.restart('invalidation-worker', { REDIS_URL: url, WORKER_MESSAGE_MAX_ATTEMPTS: '1' });
      const before = await dlqEnd();
      proxy.refuse();
      const writes: { route: string; revision: number }[] = [];
      for (let i = 0; i < 4; i++) writes.push({ route: `acme/cut-${i}/prod`, ...(await write(api(), `acme/cut-${i}/prod`, `https://cut${i}.acme.internal/`)) });
      await eventually(async () => (await metricValue(cut, 'tm_worker_errors_total', { stage: 'redis' })) >= 3, 30_000, 'the worker retrying while Redis is cut');
      writes.push({ route: 'acme/cut-late/prod', ...(await write(api(), 'acme/cut-late/prod', 'https://late.acme.internal/')) });
      const seen = await metricValue(cut, 'tm_worker_errors_total', { stage: 'redis' });
      await eventually(async () => (await metricValue(cut, 'tm_worker_errors_total', { stage: 'redis' })) >= seen + 2, 30_000, 'more retries');
      proxy.restore();
      for (const w of writes) await eventually(() => applied(w.route, w.revision), 30_000, `${w.route} applied after the restore`);
      expect(await metricValue(cut, 'tm_worker_dead_lettered_total')).toBe(0);
      expect(await metricValue(cut, 'tm_worker_events_total', { outcome: 'dead_lettered' })).toBe(0);
      expect(await dlqEnd()).toBe(before);
    } finally {
      await stack.restart('invalidation-worker');
      await proxy.stop();
    }
  }, 120_000);

  it('a dead-letter topic that refuses the message (too large): tried N times, then skipped with an error line and a metric, and the partition goes on', async () => {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: dlq, configEntries: [{ name: 'max.message.bytes', value: '512' }] }],
    });
    await produce('acme/big/prod', 'x'.repeat(4_000));
    const after = await write(api(), 'acme/after-big/prod', 'https://after-big.acme.internal/');
    await eventually(() => applied('acme/after-big/prod', after.revision), 30_000, 'the event after it applied');
    // The two keys may be on different partitions: the event after may be applied while the big one is still being tried.
    await eventually(async () => (await metricValue(worker(), 'tm_worker_events_total', { outcome: 'skipped' })) >= 1, 30_000, 'the big message skipped');
    expect(await metricValue(worker(), 'tm_worker_dead_letter_failures_total', { error: 'message_too_large' })).toBe(1);
    expect(await metricValue(worker(), 'tm_worker_events_total', { outcome: 'skipped' })).toBe(1);
    expect(worker().output.filter((l) => l.includes('refused the dead letter') && l.includes('acme/big/prod'))).toEqual([
      expect.stringMatching(/"level":50.*refused the dead letter of .*@\d+ \(key acme\/big\/prod\) 3 times .*skipping the message/),
    ]);
  }, 60_000);

  it('a dead-letter topic that is missing: the same (the worker does not create it)', async () => {
    await deleteTopics([dlq]);
    await produce('acme/lost/prod', 'not json either');
    const after = await write(api(), 'acme/after-lost/prod', 'https://after-lost.acme.internal/');
    await eventually(() => applied('acme/after-lost/prod', after.revision), 30_000, 'the event after it applied');
    await eventually(async () => (await metricValue(worker(), 'tm_worker_dead_letter_failures_total', { error: 'unknown_topic_or_partition' })) >= 1, 30_000, 'the lost message skipped');
    expect(await metricValue(worker(), 'tm_worker_dead_letter_failures_total', { error: 'unknown_topic_or_partition' })).toBe(1);
    expect(worker().output.filter((l) => l.includes('refused the dead letter') && l.includes('acme/lost/prod'))).toEqual([
      expect.stringMatching(/"level":50.*refused the dead letter of .*\(key acme\/lost\/prod\) 3 times/),
    ]);
    expect(await admin.listTopics()).not.toContain(dlq);
  }, 60_000);
});
