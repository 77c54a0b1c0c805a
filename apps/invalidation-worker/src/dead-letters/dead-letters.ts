import { randomUUID } from 'node:crypto';
import { DeadLetterHeaders } from '@tm/contracts';
import { OrderedProducer, readTopicRanges, TopicAdmin, type KafkaClient, type PartitionRange } from '@tm/messaging';

/** One message of the dead-letter topic, as the worker wrote it. */
export interface DeadLetterRecord {
  partition: number;
  offset: string;
  /** When it was dead-lettered (the record's timestamp), ISO 8601. */
  time: string;
  key: string;
  value: string;
  headers: Record<string, string>;
}

export interface DeadLetterRange {
  /** One partition only (default: every partition). */
  partition?: number;
  /** First offset to read, inclusive (default: the oldest the topic keeps). */
  from?: bigint;
  /** Last offset to read, inclusive (default: the newest). */
  to?: bigint;
  /** At most this many, the first in (partition, offset) order. */
  limit?: number;
}

/** How long the reader waits for the next message before it stops with what it has. */
const IDLE_MS = 15_000;

/**
 * Reads a range of the dead-letter topic: the partitions' ends are taken first, so messages dead-lettered
 * meanwhile are not waited for. A consumer group of its own, committing nothing, deleted afterwards.
 */
export async function readDeadLetters(kafka: KafkaClient, topic: string, range: DeadLetterRange = {}): Promise<{ letters: DeadLetterRecord[]; more: boolean }> {
  const admin = new TopicAdmin(kafka);
  await admin.connect();
  const wanted: PartitionRange[] = [];
  try {
    if (!(await admin.listTopics()).includes(topic)) throw new Error(`topic ${topic} does not exist`);
    const partitions = await admin.partitionBounds(topic);
    if (range.partition !== undefined && !partitions.some((p) => p.partition === range.partition)) throw new Error(`topic ${topic} has no partition ${range.partition}`);
    for (const p of partitions) {
      if (range.partition !== undefined && p.partition !== range.partition) continue;
      const low = BigInt(p.low);
      const high = BigInt(p.high);
      const start = range.from !== undefined && range.from > low ? range.from : low;
      const end = range.to !== undefined && range.to + 1n < high ? range.to + 1n : high;
      if (start < end) wanted.push({ partition: p.partition, start, end });
    }
  } finally {
    await admin.disconnect();
  }
  const letters: DeadLetterRecord[] = [];
  let more = false;
  const taken = new Map<number, number>();
  await readTopicRanges(
    kafka,
    topic,
    wanted,
    (partition, messages) => {
      const end = wanted.find((w) => w.partition === partition)?.end ?? 0n;
      for (const message of messages) {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers)) headers[name] = value.toString();
        letters.push({
          partition,
          offset: message.offset,
          time: new Date(message.timestamp).toISOString(),
          key: message.key ?? '',
          value: message.value?.toString('utf8') ?? '',
          headers,
        });
        const count = (taken.get(partition) ?? 0) + 1;
        taken.set(partition, count);
        if (range.limit !== undefined && count >= range.limit) {
          more ||= BigInt(message.offset) + 1n < end;
          return true;
        }
      }
      return false;
    },
    { groupId: `tm-dlq-tool-${randomUUID()}`, maxWaitMs: 200, retries: 5, idleMs: IDLE_MS },
  );
  letters.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
  if (range.limit !== undefined && letters.length > range.limit) {
    letters.length = range.limit;
    more = true;
  }
  return { letters, more };
}

/** The headers a replayed message carries: the original's own (not the dead-letter ones), and where it came from. */
function replayHeaders(letter: DeadLetterRecord): Record<string, string> {
  const own = new Set<string>([DeadLetterHeaders.reason, DeadLetterHeaders.attempts, DeadLetterHeaders.topic, DeadLetterHeaders.partition, DeadLetterHeaders.offset, DeadLetterHeaders.replayedFrom]);
  const headers = Object.fromEntries(Object.entries(letter.headers).filter(([name]) => !own.has(name)));
  return { ...headers, [DeadLetterHeaders.replayedFrom]: `${letter.partition}:${letter.offset}` };
}

/**
 * Publishes each dead letter's original key and value to the route events topic again, in order, as
 * the relay does (acks from all in-sync replicas, the key's partition). Applying is idempotent and
 * revision-gated: a replayed event older than what the cache holds changes nothing.
 */
export async function replayDeadLetters(kafka: KafkaClient, topic: string, letters: DeadLetterRecord[]): Promise<void> {
  const producer = new OrderedProducer(kafka);
  try {
    for (let i = 0; i < letters.length; i += 500) {
      await producer.send(
        topic,
        letters.slice(i, i + 500).map((l) => ({ key: l.key, value: l.value, headers: replayHeaders(l) })),
      );
    }
  } finally {
    await producer.disconnect();
  }
}

/** One line of `dlq list`: where, when, the key, and why (with the tries). */
export function formatDeadLetter(letter: DeadLetterRecord): string {
  const reason = (letter.headers[DeadLetterHeaders.reason] ?? '(no reason)').replace(/\s+/g, ' ');
  const attempts = letter.headers[DeadLetterHeaders.attempts];
  return `${letter.partition}:${letter.offset}  ${letter.time}  ${letter.key || '(no key)'}  ${attempts ? `after ${attempts} attempt(s): ` : ''}${reason}`;
}
