import { Partitioners, type Producer } from 'kafkajs';
import { withTimeout } from '@tm/platform';
import type { KafkaClient } from './kafka.module';

export interface OutgoingMessage {
  key: string;
  value: string;
  headers?: Record<string, string>;
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

  constructor(private readonly kafka: KafkaClient) {
    this.producer = this.create();
  }

  private create(): Producer {
    const producer = this.kafka.producer({
      idempotent: false,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // The caller's loop retries the whole batch, with backoff (see above).
      retry: { retries: 0 },
    });
    producer.on(producer.events.DISCONNECT, () => {
      this.connected = false;
    });
    return producer;
  }

  /** Sends the messages in order and resolves once every one is acknowledged by all in-sync replicas. */
  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (!this.connected) {
      await this.producer.connect();
      this.connected = true;
    }
    try {
      await this.producer.send({ topic, acks: -1, messages });
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
