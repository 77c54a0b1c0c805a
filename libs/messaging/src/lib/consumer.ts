import type { Batch, Consumer, IHeaders, KafkaMessage } from 'kafkajs';
import type { KafkaClient } from './kafka.module';

/** A message as a consumer reads it: the key decoded (UTF-8), the value as bytes. */
export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  /** The key as UTF-8, or null for a message without one. */
  key: string | null;
  value: Buffer | null;
  /** The record's timestamp (ms since the epoch). */
  timestamp: number;
  /** A header sent more than once is a list, in order; header values that are null are left out. */
  headers: Record<string, Buffer | Buffer[]>;
}

/** The messages of one partition that one fetch returned, in offset order. */
export interface ConsumedBatch {
  topic: string;
  partition: number;
  /** The partition's end offset (the next offset to be written) when fetched. */
  highWatermark: string;
  messages: ConsumedMessage[];
}

/** Where a partition's consumer is to read next: everything before `offset` is done. */
export interface PartitionOffset {
  topic: string;
  partition: number;
  offset: string;
}

/** What a batch handler may do while it holds the batch. */
export interface BatchControls {
  /** Marks the batch done up to `offset`, inclusive: the consumer fetches after it (nothing is committed). */
  resolveOffset(offset: string): void;
  /** Tells the group this member is alive (a long batch must call it within the session timeout). */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping. */
  isRunning(): boolean;
  /** True once the batch is no longer this member's to handle (a rebalance or a seek took it). */
  isStale(): boolean;
  /** Commits the offsets now, through the batch's own group session (works while the consumer stops). */
  commit(offsets: PartitionOffset[]): Promise<void>;
}

export type BatchHandler = (batch: ConsumedBatch, controls: BatchControls) => Promise<void>;

export interface ConsumerOptions {
  groupId: string;
  /** A member that has not sent a heartbeat for this long is out of the group (default: kafkajs's, 30 s). */
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** How long a fetch waits on the broker for messages (default: kafkajs's, 5 s). */
  maxWaitMs?: number;
  /** Retries of the client's requests, with exponential backoff (default: kafkajs's). */
  retry?: {
    retries: number;
    initialRetryTimeMs?: number;
    maxRetryTimeMs?: number;
    /** Whether the consumer restarts itself after a retriable failure outlived its retries (default: yes). */
    restartOnFailure?: boolean;
  };
}

export interface RunOptions {
  eachBatch: BatchHandler;
  /**
   * Resolve the batch's last offset when the handler returns (default: no, the handler calls
   * `resolveOffset`; a batch returned unresolved is fetched again).
   */
  autoResolve?: boolean;
  /** How many partitions' batches are handled at once (default 1). */
  partitionsConsumedConcurrently?: number;
}

function headerBuffers(value: Buffer | string | (Buffer | string)[] | undefined | null): Buffer | Buffer[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.filter((v) => v !== null && v !== undefined).map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(v)));
  return Buffer.isBuffer(value) ? value : Buffer.from(value);
}

function consumedHeaders(headers: IHeaders | undefined): Record<string, Buffer | Buffer[]> {
  const out: Record<string, Buffer | Buffer[]> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const buffers = headerBuffers(value);
    if (buffers !== undefined) out[name] = buffers;
  }
  return out;
}

/** A kafkajs message as ours. */
export function toConsumedMessage(topic: string, partition: number, message: KafkaMessage): ConsumedMessage {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key === null || message.key === undefined ? null : message.key.toString('utf8'),
    value: message.value ?? null,
    timestamp: Number(message.timestamp),
    headers: consumedHeaders(message.headers),
  };
}

/** A kafkajs batch as ours. */
export function toConsumedBatch(batch: Pick<Batch, 'topic' | 'partition' | 'highWatermark' | 'messages'>): ConsumedBatch {
  return {
    topic: batch.topic,
    partition: batch.partition,
    highWatermark: batch.highWatermark,
    messages: batch.messages.map((m) => toConsumedMessage(batch.topic, batch.partition, m)),
  };
}

/** Offsets grouped by topic, as the batch's commit wants them. */
export function offsetsByTopic(offsets: PartitionOffset[]): { topics: { topic: string; partitions: { partition: number; offset: string }[] }[] } {
  const topics = new Map<string, { partition: number; offset: string }[]>();
  for (const { topic, partition, offset } of offsets) topics.set(topic, [...(topics.get(topic) ?? []), { partition, offset }]);
  return { topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) };
}

/**
 * A member of a consumer group that reads in batches and commits only when told to: never
 * automatically, and never by asking the broker to create a topic. One consumer for its whole
 * life: after `disconnect()` it may `connect()` again.
 */
export class GroupConsumer {
  private readonly consumer: Consumer;

  constructor(kafka: KafkaClient, options: ConsumerOptions) {
    const { retry } = options;
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      ...(options.sessionTimeoutMs !== undefined ? { sessionTimeout: options.sessionTimeoutMs } : {}),
      ...(options.rebalanceTimeoutMs !== undefined ? { rebalanceTimeout: options.rebalanceTimeoutMs } : {}),
      ...(options.heartbeatIntervalMs !== undefined ? { heartbeatInterval: options.heartbeatIntervalMs } : {}),
      ...(options.maxWaitMs !== undefined ? { maxWaitTimeInMs: options.maxWaitMs } : {}),
      ...(retry
        ? {
            retry: {
              retries: retry.retries,
              ...(retry.initialRetryTimeMs !== undefined ? { initialRetryTime: retry.initialRetryTimeMs } : {}),
              ...(retry.maxRetryTimeMs !== undefined ? { maxRetryTime: retry.maxRetryTimeMs } : {}),
              ...(retry.restartOnFailure !== undefined ? { restartOnFailure: async () => retry.restartOnFailure === true } : {}),
            },
          }
        : {}),
    });
  }

  async connect(): Promise<void> {
    await this.consumer.connect();
  }

  async subscribe(topic: string, { fromBeginning }: { fromBeginning: boolean }): Promise<void> {
    await this.consumer.subscribe({ topic, fromBeginning });
  }

  /** Starts consuming (resolves once the consumer runs, not when it stops); offsets are committed only by `commit`. */
  async run({ eachBatch, autoResolve = false, partitionsConsumedConcurrently = 1 }: RunOptions): Promise<void> {
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: autoResolve,
      partitionsConsumedConcurrently,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) =>
        eachBatch(toConsumedBatch(batch), {
          resolveOffset,
          heartbeat,
          isRunning,
          isStale,
          commit: (offsets) => commitOffsetsIfNecessary(offsetsByTopic(offsets)),
        }),
    });
  }

  /** Commits the offsets through the group (the consumer must be running). */
  async commit(offsets: PartitionOffset[]): Promise<void> {
    await this.consumer.commitOffsets(offsets);
  }

  /** The partition's next fetch starts at `offset` (the consumer must be running). */
  seek({ topic, partition, offset }: PartitionOffset): void {
    this.consumer.seek({ topic, partition, offset });
  }

  /** No more fetches from these partitions until the consumer is restarted. */
  pause(topic: string, partitions: number[]): void {
    this.consumer.pause([{ topic, partitions }]);
  }

  /** Called each time this member joins the group (first time and after every rebalance). */
  onGroupJoin(listener: () => void): void {
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => listener());
  }

  /** Leaves the group: the batch in flight finishes first. */
  async disconnect(): Promise<void> {
    await this.consumer.disconnect();
  }
}
