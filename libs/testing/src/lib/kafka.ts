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

/**
 * Deletes test topics; refuses any other name. Resolves once the broker's metadata no longer lists
 * them: the controller accepts a deletion before the brokers' metadata caches apply it, so a
 * listing right after the accepted request can still show the topic.
 */
export async function deleteTopics(topics: string[]): Promise<void> {
  const bad = topics.find((t) => !t.startsWith('tm.test.'));
  if (bad) throw new Error(`refusing to delete topic ${bad}: not a test topic`);
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const doomed = topics.filter((t) => existing.has(t));
    if (doomed.length === 0) return;
    await admin.deleteTopics({ topics: doomed, timeout: 10_000 });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const left = new Set(await admin.listTopics());
      const remaining = doomed.filter((t) => left.has(t));
      if (remaining.length === 0) return;
      if (Date.now() > deadline) throw new Error(`topics still listed 30 s after their deletion: ${remaining.join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await admin.disconnect();
  }
}
