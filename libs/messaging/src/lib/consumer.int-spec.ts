import type { Producer } from 'kafkajs';
import { deleteTopics, testKafka, testTopic, uniqueSuffix } from '@tm/testing';
import { TopicAdmin } from './admin';
import { GroupConsumer, type BatchControls, type ConsumedBatch, type ConsumedMessage } from './consumer';
import { readTopicRanges } from './topic-range';
import { ensureTopics } from './topics';

/** Waits for `done()`; fails with `what` after 30 s (a bound on the wait, not an assertion on timing). */
async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const values = (messages: ConsumedMessage[]): string[] => messages.map((m) => m.value?.toString('utf8') ?? '');

describe('GroupConsumer, TopicAdmin and readTopicRanges (real Kafka)', () => {
  const kafka = testKafka();
  const topics: string[] = [];
  const consumers: GroupConsumer[] = [];
  let producer: Producer;

  /** A topic of this test's own, with `partitions` partitions and `count` messages in each (`p<partition>-<i>`). */
  async function topicWith(partitions: number, count: number): Promise<string> {
    const topic = testTopic('consumer');
    topics.push(topic);
    await ensureTopics(kafka, [{ topic, partitions, replicationFactor: 1, minInsyncReplicas: 1 }]);
    for (let partition = 0; partition < partitions; partition++) {
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: count }, (_, i) => ({ partition, key: `k${i}`, value: `p${partition}-${i}`, headers: { n: String(i) } })),
      });
    }
    return topic;
  }

  function consumer(groupId: string): GroupConsumer {
    const c = new GroupConsumer(kafka, { groupId, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, maxWaitMs: 200 });
    consumers.push(c);
    return c;
  }

  /** Runs a consumer that records every batch it gets and hands each to `then`. */
  async function consume(c: GroupConsumer, topic: string, then: (batch: ConsumedBatch, controls: BatchControls) => Promise<void> = async () => undefined): Promise<ConsumedBatch[]> {
    const batches: ConsumedBatch[] = [];
    await c.connect();
    await c.subscribe(topic, { fromBeginning: true });
    await c.run({
      eachBatch: async (batch, controls) => {
        batches.push(batch);
        await then(batch, controls);
      },
    });
    return batches;
  }

  async function committed(groupId: string, topic: string): Promise<string[]> {
    const admin = new TopicAdmin(kafka);
    await admin.connect();
    try {
      return (await admin.committedOffsets(groupId, topic)).sort((a, b) => a.partition - b.partition).map((p) => p.offset);
    } finally {
      await admin.disconnect();
    }
  }

  beforeAll(async () => {
    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.disconnect();
  });
  afterAll(async () => {
    await producer.disconnect();
    await deleteTopics(topics);
  });

  it('delivers batches as our types, commits only when told, and a new member resumes from the committed offset', async () => {
    const topic = await topicWith(1, 5);
    const groupId = `tm-test-${uniqueSuffix()}`;
    const joins: number[] = [];
    const first = consumer(groupId);
    first.onGroupJoin(() => joins.push(Date.now()));
    const batches = await consume(first, topic, async (batch, { resolveOffset }) => {
      const last = batch.messages[batch.messages.length - 1];
      if (last) resolveOffset(last.offset);
    });
    await until('five messages', () => batches.flatMap((b) => b.messages).length >= 5);
    const messages = batches.flatMap((b) => b.messages);
    expect(values(messages)).toEqual(['p0-0', 'p0-1', 'p0-2', 'p0-3', 'p0-4']);
    expect(messages[1]).toEqual({
      topic,
      partition: 0,
      offset: '1',
      key: 'k1',
      value: Buffer.from('p0-1'),
      timestamp: expect.any(Number),
      headers: { n: Buffer.from('1') },
    });
    expect(batches[0]).toMatchObject({ topic, partition: 0, highWatermark: '5' });
    expect(joins.length).toBeGreaterThanOrEqual(1);
    // Resolving is not committing: nothing is committed until commit() is called.
    expect(await committed(groupId, topic)).toEqual(['-1']);

    await first.commit([{ topic, partition: 0, offset: '3' }]);
    expect(await committed(groupId, topic)).toEqual(['3']);
    await first.disconnect();

    const second = consumer(groupId);
    const again = await consume(second, topic, async (batch, { resolveOffset }) => {
      const last = batch.messages[batch.messages.length - 1];
      if (last) resolveOffset(last.offset);
    });
    await until('the rest after the committed offset', () => again.flatMap((b) => b.messages).length >= 2);
    expect(again.flatMap((b) => b.messages).map((m) => m.offset)).toEqual(['3', '4']);
  });

  it("commits through the batch's own controls", async () => {
    const topic = await topicWith(1, 3);
    const groupId = `tm-test-${uniqueSuffix()}`;
    let commits = 0;
    const batches = await consume(consumer(groupId), topic, async (batch, { resolveOffset, commit }) => {
      const last = batch.messages[batch.messages.length - 1];
      if (!last) return;
      resolveOffset(last.offset);
      await commit([{ topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
      commits++;
    });
    await until('three messages, committed', () => batches.flatMap((b) => b.messages).length >= 3 && commits === batches.length);
    expect(await committed(groupId, topic)).toEqual(['3']);
  });

  it('a batch returned unresolved is delivered again', async () => {
    const topic = await topicWith(1, 2);
    let refusals = 1;
    const batches = await consume(consumer(`tm-test-${uniqueSuffix()}`), topic, async (batch, { resolveOffset }) => {
      if (refusals-- > 0) return;
      const last = batch.messages[batch.messages.length - 1];
      if (last) resolveOffset(last.offset);
    });
    await until('the batch twice', () => batches.length >= 2);
    expect(batches[1]?.messages[0]?.offset).toBe(batches[0]?.messages[0]?.offset);
  });

  it('seeks: the partition is read again from the offset given', async () => {
    const topic = await topicWith(1, 4);
    const c = consumer(`tm-test-${uniqueSuffix()}`);
    const batches = await consume(c, topic, async (batch, { resolveOffset }) => {
      const last = batch.messages[batch.messages.length - 1];
      if (last) resolveOffset(last.offset);
    });
    await until('four messages', () => batches.flatMap((b) => b.messages).length >= 4);
    const before = batches.length;
    c.seek({ topic, partition: 0, offset: '1' });
    await until('the messages again from offset 1', () => batches.slice(before).flatMap((b) => b.messages).length >= 3);
    expect(batches.slice(before).flatMap((b) => b.messages).map((m) => m.offset)).toEqual(['1', '2', '3']);
  });

  it('TopicAdmin reads the partition bounds and the offsets at a time', async () => {
    const topic = await topicWith(2, 3);
    const admin = new TopicAdmin(kafka);
    await admin.connect();
    try {
      expect(await admin.listTopics()).toContain(topic);
      expect((await admin.partitionBounds(topic)).sort((a, b) => a.partition - b.partition)).toEqual([
        { partition: 0, low: '0', high: '3' },
        { partition: 1, low: '0', high: '3' },
      ]);
      const fromStart = await admin.offsetsAtTime(topic, 0);
      expect(fromStart.map((p) => p.offset)).toEqual(['0', '0']);
      // Nothing at or after the time: the partition's end.
      const future = await admin.offsetsAtTime(topic, Date.now() + 3_600_000);
      expect(future.map((p) => p.offset)).toEqual(['3', '3']);
    } finally {
      await admin.disconnect();
    }
  });

  it('readTopicRanges reads each range once, in order, and deletes its group', async () => {
    const topic = await topicWith(3, 5);
    const groupId = `tm-test-${uniqueSuffix()}`;
    const read = new Map<number, string[]>();
    await readTopicRanges(
      kafka,
      topic,
      [
        { partition: 0, start: 1n, end: 4n },
        { partition: 1, start: 0n, end: 5n },
        // Empty: not read.
        { partition: 2, start: 3n, end: 3n },
      ],
      (partition, messages) => {
        read.set(partition, [...(read.get(partition) ?? []), ...values(messages)]);
        return false;
      },
      { groupId, maxWaitMs: 200, idleMs: 15_000 },
    );
    expect(Object.fromEntries(read)).toEqual({ 0: ['p0-1', 'p0-2', 'p0-3'], 1: ['p1-0', 'p1-1', 'p1-2', 'p1-3', 'p1-4'] });
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(groupId);
    } finally {
      await admin.disconnect();
    }
  });

  it('readTopicRanges stops a partition when its handler has enough, and rejects with the error a handler throws', async () => {
    const topic = await topicWith(1, 5);
    const taken: string[] = [];
    await readTopicRanges(
      kafka,
      topic,
      [{ partition: 0, start: 0n, end: 5n }],
      (_partition, messages) => {
        for (const m of messages) {
          taken.push(m.offset);
          if (taken.length === 2) return true;
        }
        return false;
      },
      { groupId: `tm-test-${uniqueSuffix()}`, maxWaitMs: 200 },
    );
    expect(taken).toEqual(['0', '1']);

    await expect(
      readTopicRanges(
        kafka,
        topic,
        [{ partition: 0, start: 0n, end: 5n }],
        async () => {
          throw new Error('the handler failed');
        },
        { groupId: `tm-test-${uniqueSuffix()}`, maxWaitMs: 200 },
      ),
    ).rejects.toThrow('the handler failed');
  });

  it('readTopicRanges gives up, naming the partition, when a range goes past what the topic holds and nothing more arrives', async () => {
    const topic = await topicWith(2, 2);
    const read: string[] = [];
    await expect(
      readTopicRanges(
        kafka,
        topic,
        [
          { partition: 0, start: 0n, end: 2n },
          { partition: 1, start: 0n, end: 10n },
        ],
        (_partition, messages) => {
          read.push(...values(messages));
          return false;
        },
        { groupId: `tm-test-${uniqueSuffix()}`, maxWaitMs: 200, idleMs: 2_000 },
      ),
    ).rejects.toThrow(`no message arrived for 2 s from partition(s) 1 of ${topic}`);
    expect(read.sort()).toEqual(['p0-0', 'p0-1', 'p1-0', 'p1-1']);
  });
});
