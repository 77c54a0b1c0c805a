import { ConfigResourceTypes, type Admin } from 'kafkajs';
import { deleteTopics, testKafka, testTopic } from '@tm/testing';
import { checkTopics, describeTopics, ensureTopics, routeEventTopics } from './topics';

/** Topic creation and checks against the real broker (one broker here: replication factor 1). */
describe('ensureTopics and checkTopics (real Kafka)', () => {
  const kafka = testKafka();
  let admin: Admin;
  const created: string[] = [];
  const name = (): string => {
    const topic = testTopic();
    created.push(topic, `${topic}.dlq`);
    return topic;
  };
  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.disconnect();
    await deleteTopics(created);
  });

  async function minInsyncReplicas(topic: string): Promise<{ value: string | undefined; isDefault: boolean | undefined }> {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas'] }],
    });
    const entry = resources[0]?.configEntries[0];
    return { value: entry?.configValue, isDefault: entry?.isDefault };
  }

  it('creates the topic and its dead-letter topic with the configured partitions, replication factor and min.insync.replicas', async () => {
    const topic = name();
    const specs = routeEventTopics(topic, { partitions: 3, replicationFactor: 1, minInsyncReplicas: 1 });
    expect(await ensureTopics(kafka, specs)).toEqual({ created: [topic, `${topic}.dlq`], mismatches: [] });
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic, `${topic}.dlq`] });
    for (const t of topics) {
      expect(t.partitions).toHaveLength(3);
      for (const p of t.partitions) expect(p.replicas).toHaveLength(1);
      // Set on the topic itself, not inherited from the broker's default.
      expect(await minInsyncReplicas(t.name)).toEqual({ value: '1', isDefault: false });
    }
    // Again (another replica starting): nothing created, nothing differs.
    expect(await ensureTopics(kafka, specs)).toEqual({ created: [], mismatches: [] });
  });

  it('leaves an existing topic as it is and returns what differs from the configuration', async () => {
    const topic = name();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] });
    const specs = routeEventTopics(topic, { partitions: 1, replicationFactor: 1, minInsyncReplicas: 1 });
    const { created: made, mismatches } = await ensureTopics(kafka, specs);
    expect(made).toEqual([`${topic}.dlq`]);
    expect(mismatches).toEqual([{ topic, setting: 'partitions', expected: 1, actual: 2 }]);
    expect((await describeTopics(admin, [topic]))[0]).toMatchObject({ exists: true, partitions: 2, replicationFactor: 1 });
  });

  it('a replication factor the cluster cannot give is refused (never created under-replicated)', async () => {
    const topic = name();
    await expect(ensureTopics(kafka, routeEventTopics(topic, { partitions: 1, replicationFactor: 3, minInsyncReplicas: 2 }))).rejects.toThrow();
    expect(await admin.listTopics()).not.toContain(topic);
  });

  it('checkTopics creates nothing: a missing topic is reported as missing', async () => {
    const topic = name();
    const specs = routeEventTopics(topic, { partitions: 1, replicationFactor: 1, minInsyncReplicas: 1 });
    expect(await checkTopics(kafka, specs)).toEqual([
      { topic, setting: 'exists', expected: true, actual: false },
      { topic: `${topic}.dlq`, setting: 'exists', expected: true, actual: false },
    ]);
    const all = await admin.listTopics();
    expect(all).not.toContain(topic);
    expect(all).not.toContain(`${topic}.dlq`);
  });
});
