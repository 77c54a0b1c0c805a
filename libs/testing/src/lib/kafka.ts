import { Kafka, logLevel } from 'kafkajs';
import { testInfra, uniqueSuffix } from './env';

export function testKafka(): Kafka {
  return new Kafka({
    clientId: 'tm-test',
    brokers: testInfra().kafkaBrokers.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 100 },
  });
}

/** A topic name of this test's own: `tm.test.<unique>.<base>`. */
export function testTopic(base = 'route-events.v1'): string {
  return `tm.test.${uniqueSuffix()}.${base}`;
}

/** Deletes test topics; refuses any other name. */
export async function deleteTopics(topics: string[]): Promise<void> {
  const bad = topics.find((t) => !t.startsWith('tm.test.'));
  if (bad) throw new Error(`refusing to delete topic ${bad}: not a test topic`);
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const doomed = topics.filter((t) => existing.has(t));
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}
