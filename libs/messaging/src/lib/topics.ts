import type { Kafka } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
}

/** Creates the topic when it is missing (an existing one is left as it is). Returns whether it created it. */
export async function ensureTopic(kafka: Kafka, spec: TopicSpec): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (existing.includes(spec.topic)) return false;
    return await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: spec.topic, numPartitions: spec.partitions, replicationFactor: spec.replicationFactor }],
    });
  } finally {
    await admin.disconnect();
  }
}
