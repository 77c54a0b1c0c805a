import { TopicAdmin } from './admin';
import { GroupConsumer, type ConsumedMessage } from './consumer';
import type { KafkaClient } from './kafka.module';

/** Offsets of one partition to read: from `start`, inclusive, to `end`, exclusive. */
export interface PartitionRange {
  partition: number;
  start: bigint;
  end: bigint;
}

/**
 * Takes the messages of one partition within its range, in offset order; resolves true when it
 * wants no more of that partition. A rejection stops the read, which rejects with it.
 */
export type RangeHandler = (partition: number, messages: ConsumedMessage[]) => Promise<boolean> | boolean;

export interface TopicRangeOptions {
  /** The consumer group the read joins: one of its own, committing nothing, deleted afterwards. */
  groupId: string;
  /** How long a fetch waits on the broker for messages (default: the consumer's). */
  maxWaitMs?: number;
  /** Retries of the consumer's requests (default: the consumer's). */
  retries?: number;
  /** Stop with an error once no message came from a partition still to read for this long (default: never). */
  idleMs?: number;
  /** Stop with an error once the read took this long (default: never). */
  timeoutMs?: number;
}

/**
 * Reads ranges of a topic's partitions once, in batches, with a consumer group of its own that
 * commits nothing (deleted afterwards): each partition from its start to its end, then paused.
 * Resolves once every partition is read (or its handler wanted no more).
 */
export async function readTopicRanges(kafka: KafkaClient, topic: string, ranges: PartitionRange[], handle: RangeHandler, options: TopicRangeOptions): Promise<void> {
  const wanted = new Map(ranges.filter((r) => r.start < r.end).map((r) => [r.partition, { next: r.start, end: r.end }]));
  if (wanted.size === 0) return;
  const starts = [...wanted].map(([partition, { next }]) => ({ partition, offset: next.toString() }));
  const consumer = new GroupConsumer(kafka, {
    groupId: options.groupId,
    ...(options.maxWaitMs !== undefined ? { maxWaitMs: options.maxWaitMs } : {}),
    ...(options.retries !== undefined ? { retry: { retries: options.retries } } : {}),
  });
  let settled = false;
  let settle: (e?: unknown) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    settle = (e?: unknown) => {
      if (settled) return;
      settled = true;
      if (e === undefined) resolve();
      else reject(e);
    };
  });
  const close = (partition: number) => {
    wanted.delete(partition);
    consumer.pause(topic, [partition]);
    if (wanted.size === 0) settle();
  };
  let lastProgress = Date.now();
  const timers: NodeJS.Timeout[] = [];
  // The whole read is bounded, connecting included.
  if (options.timeoutMs !== undefined) {
    const ms = options.timeoutMs;
    timers.push(setTimeout(() => settle(new Error(`reading ${topic} did not finish within ${ms / 1000} s`)), ms).unref());
  }
  const read = async (): Promise<void> => {
    // Each step only while the read is on: one that timed out is being torn down.
    await consumer.connect();
    if (settled) return;
    await consumer.subscribe(topic, { fromBeginning: true });
    if (settled) return;
    await consumer.run({
      autoResolve: true,
      eachBatch: async (batch) => {
        const range = wanted.get(batch.partition);
        const last = batch.messages[batch.messages.length - 1];
        if (settled || !range || !last) return;
        lastProgress = Date.now();
        const within = batch.messages.filter((m) => BigInt(m.offset) >= range.next && BigInt(m.offset) < range.end);
        let enough = false;
        if (within.length > 0) {
          try {
            enough = await handle(batch.partition, within);
          } catch (e) {
            // Not thrown to the consumer, which would retry the batch: the read is over.
            settle(e);
            return;
          }
          range.next = BigInt(within[within.length - 1]?.offset ?? range.next) + 1n;
        }
        if (enough || BigInt(last.offset) + 1n >= range.end) close(batch.partition);
      },
    });
    if (settled) return;
    for (const { partition, offset } of starts) consumer.seek({ topic, partition, offset });
    const { idleMs } = options;
    if (idleMs !== undefined) {
      timers.push(
        setInterval(() => {
          if (Date.now() - lastProgress > idleMs) settle(new Error(`no message arrived for ${idleMs / 1000} s from partition(s) ${[...wanted.keys()].join(', ')} of ${topic}`));
        }, Math.min(500, idleMs)),
      );
    }
    await finished;
  };
  try {
    await Promise.race([read(), finished]);
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    await deleteGroup(kafka, options.groupId);
  }
}

/** Deletes a consumer group that is done with; a group that cannot be deleted is left to the broker's expiry. */
async function deleteGroup(kafka: KafkaClient, groupId: string): Promise<void> {
  const admin = new TopicAdmin(kafka);
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch {
    // Left behind: it holds no offsets, the broker forgets it.
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
