import { Partitioners, type Message, type Producer, type RecordMetadata } from 'kafkajs';
import { withTimeout } from '@tm/platform';
import type { KafkaClient } from './kafka.module';

export interface OutgoingMessage {
  key: string;
  value: string;
  headers?: Record<string, string>;
}

/** Where Kafka wrote one message of a send. */
export interface DeliveredAt {
  partition: number;
  offset: bigint;
}

/**
 * Where each message of one acknowledged send was written, in the order sent; undefined when that
 * cannot be told (a partition's answer without a base offset). A produce request appends each
 * partition's messages as one record batch, in the order given, from the batch's base offset, so
 * the n-th message to a partition is at its base offset + n.
 */
export function deliveredAt(partitions: readonly (number | undefined)[], metadata: readonly RecordMetadata[]): DeliveredAt[] | undefined {
  const next = new Map<number, bigint>();
  for (const m of metadata) {
    if (m.baseOffset === undefined || m.errorCode !== 0) return undefined;
    next.set(m.partition, BigInt(m.baseOffset));
  }
  const out: DeliveredAt[] = [];
  for (const partition of partitions) {
    const offset = partition === undefined ? undefined : next.get(partition);
    if (partition === undefined || offset === undefined) return undefined;
    out.push({ partition, offset });
    next.set(partition, offset + 1n);
  }
  return out;
}

/**
 * A Kafka producer for events whose order per key matters: acks from all in-sync replicas, one
 * request in flight, the Java client's partitioner (murmur2 of the key, so other clients agree on
 * the partition), and no retry inside kafkajs: a send that fails anywhere fails whole, and the
 * caller sends the whole batch again.
 *
 * Why no kafkajs retry: kafkajs 2.2.4 retries a send only to the brokers that have not answered
 * yet, with the partitions refreshed metadata gives them; a partition whose leader moved to a
 * broker that has already answered is never sent, and the send resolves as if it had been
 * (cluster.int-spec forces it: acknowledged events lost). Without kafkajs's retries its
 * idempotence has nothing to protect (it refuses to run without them), and every resend after a
 * failure comes from a new producer anyway (see send()): a resend adds duplicates, which
 * consumers ignore by revision, and never loses or reorders a first delivery.
 *
 * Uncompressed: our events are a few hundred bytes of JSON, and gzip cost CPU in this producer,
 * in the broker (which decompresses to validate) and in every consumer for little saving.
 * Consumers still read compressed batches written earlier.
 */
export class OrderedProducer {
  private producer: Producer;
  private connected = false;
  /** The partition the partitioner chose for each message object of the send in flight. */
  private partitionOf = new WeakMap<Message, number>();

  constructor(private readonly kafka: KafkaClient) {
    this.producer = this.create();
  }

  private create(): Producer {
    const producer = this.kafka.producer({
      idempotent: false,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // The default partitioner, noting each message's partition (deliveredAt needs it).
      createPartitioner: () => {
        const choose = Partitioners.DefaultPartitioner();
        return (args) => {
          const partition = choose(args);
          this.partitionOf.set(args.message, partition);
          return partition;
        };
      },
      // The caller's loop retries the whole batch, with backoff (see above).
      retry: { retries: 0 },
    });
    producer.on(producer.events.DISCONNECT, () => {
      this.connected = false;
    });
    return producer;
  }

  /**
   * Sends the messages in order and resolves once every one is acknowledged by all in-sync
   * replicas, with where each was written (see deliveredAt; undefined when that cannot be told).
   */
  async send(topic: string, messages: OutgoingMessage[]): Promise<DeliveredAt[] | undefined> {
    if (!this.connected) {
      await this.producer.connect();
      this.connected = true;
    }
    try {
      const sent: Message[] = messages.map((m) => ({ ...m }));
      const metadata = await this.producer.send({ topic, acks: -1, messages: sent });
      return deliveredAt(
        sent.map((m) => this.partitionOf.get(m)),
        metadata.filter((m) => m.topicName === topic),
      );
    } catch (e) {
      // A failed send may still have been written, in part: the caller's resend can only add
      // duplicates, which consumers ignore. A new producer starts from fresh metadata.
      await this.disconnect();
      this.producer = this.create();
      throw e;
    }
  }

  /** Disconnects; a broker that does not answer is given a second, then left behind. */
  async disconnect(): Promise<void> {
    this.connected = false;
    await withTimeout(this.producer.disconnect(), 1_000, 'Kafka').catch(() => undefined);
  }
}
