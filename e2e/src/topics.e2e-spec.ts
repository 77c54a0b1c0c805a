import { ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { createTestEnvironment, deleteTopics, startApp, testInfra, testTopic, type AppProcess, type TestEnvironment } from '@tm/testing';
import { eventually } from './support';

/** `tm_kafka_topic_mismatch{topic,setting}` as an app reports it (undefined: no such sample). */
async function mismatch(app: AppProcess, topic: string, setting: string): Promise<number | undefined> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  // The platform adds its default label (app) after ours.
  const line = text.split('\n').find((l) => l.startsWith(`tm_kafka_topic_mismatch{topic="${topic}",setting="${setting}"`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

function warned(app: AppProcess, pattern: RegExp): boolean {
  return app.output.some((line) => {
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      return entry.level === 40 && pattern.test(entry.msg ?? '');
    } catch {
      return false;
    }
  });
}

/**
 * Topics are created in one place, the relay, with the configured partitions, replication factor
 * and min.insync.replicas, the dead-letter topic included; every app that uses a topic reports at
 * start what differs from its configuration; the worker creates nothing.
 */
describe('topic creation and checks (processes, real Kafka)', () => {
  let environment: TestEnvironment;
  let admin: Admin;
  const apps: AppProcess[] = [];
  const topics: string[] = [];
  beforeAll(async () => {
    environment = await createTestEnvironment();
    admin = new Kafka({ clientId: 'tm-test', brokers: testInfra().kafkaBrokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await admin?.disconnect();
    await deleteTopics(topics);
    await environment?.cleanup();
  });

  async function start(app: 'outbox-relay' | 'invalidation-worker', env: Record<string, string>): Promise<AppProcess> {
    const proc = await startApp(app, { ...environment.env, ...env });
    apps.push(proc);
    return proc;
  }

  it('the worker alone creates neither topic and says it waits; the relay then creates both with the configured settings, and the worker consumes', async () => {
    const topic = environment.topic;
    const env = { KAFKA_TOPIC_PARTITIONS: '2', KAFKA_REPLICATION_FACTOR: '1', KAFKA_MIN_INSYNC_REPLICAS: '1' };
    const worker = await start('invalidation-worker', env);
    await eventually(() => warned(worker, new RegExp(`^topic ${topic.replace(/\./g, '\\.')} does not exist`)), 20_000, 'the worker reporting the missing topic');
    expect(await mismatch(worker, topic, 'exists')).toBe(1);
    expect(await mismatch(worker, `${topic}.dlq`, 'exists')).toBe(1);
    // It keeps checking (its start is retried); still nothing is created.
    await eventually(() => worker.output.filter((l) => l.includes('starting the consumer failed')).length >= 2, 20_000, 'a second check');
    const all = await admin.listTopics();
    expect(all).not.toContain(topic);
    expect(all).not.toContain(`${topic}.dlq`);

    const relay = await start('outbox-relay', env);
    await eventually(() => relay.output.some((l) => l.includes(`created topic ${topic}.dlq`)), 20_000, 'the relay creating the topics');
    const { topics: described } = await admin.fetchTopicMetadata({ topics: [topic, `${topic}.dlq`] });
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [topic, `${topic}.dlq`].map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['min.insync.replicas'] })),
    });
    for (const name of [topic, `${topic}.dlq`]) {
      const t = described.find((d) => d.name === name);
      expect({ name, partitions: t?.partitions.length, replicas: t?.partitions.map((p) => p.replicas.length) }).toEqual({ name, partitions: 2, replicas: [1, 1] });
      expect(resources.find((r) => r.resourceName === name)?.configEntries[0]).toMatchObject({ configValue: '1', isDefault: false });
      expect(await mismatch(relay, name, 'partitions')).toBe(0);
      expect(await mismatch(relay, name, 'replication_factor')).toBe(0);
      expect(await mismatch(relay, name, 'min_insync_replicas')).toBe(0);
    }
    await eventually(() => worker.output.some((l) => l.includes(`consuming ${topic}`)), 30_000, 'the worker consuming once the topic exists');
    expect(await mismatch(worker, topic, 'exists')).toBe(0);
    expect(await mismatch(worker, topic, 'partitions')).toBe(0);
  }, 120_000);

  it('an existing topic whose settings differ is reported at start by the relay and the worker (a warning naming topic, expected, actual, and the gauge), and left as it is', async () => {
    const topic = testTopic();
    topics.push(topic, `${topic}.dlq`);
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] });
    const env = { KAFKA_ROUTE_EVENTS_TOPIC: topic, KAFKA_TOPIC_PARTITIONS: '1', KAFKA_CONSUMER_GROUP: `${environment.env['KAFKA_CONSUMER_GROUP']}-mismatch` };
    const relay = await start('outbox-relay', env);
    const line = new RegExp(`^topic ${topic.replace(/\./g, '\\.')}: partitions is 2, expected 1`);
    await eventually(() => warned(relay, line), 20_000, 'the relay reporting the difference');
    expect(await mismatch(relay, topic, 'partitions')).toBe(1);
    expect(await mismatch(relay, topic, 'replication_factor')).toBe(0);
    // The dead-letter topic it created has the configured settings.
    expect(await mismatch(relay, `${topic}.dlq`, 'partitions')).toBe(0);
    const worker = await start('invalidation-worker', env);
    await eventually(() => warned(worker, line), 20_000, 'the worker reporting the difference');
    expect(await mismatch(worker, topic, 'partitions')).toBe(1);
    const { topics: described } = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(described[0]?.partitions).toHaveLength(2);
  }, 120_000);
});
