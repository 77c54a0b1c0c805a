import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { withTimeout } from '@tm/platform';

export interface OutgoingMessage {
  key: string;
  value: string;
  headers?: Record<string, string>;
}

/**
 * A Kafka producer for events whose order per key matters: idempotent, acks from all in-sync
 * replicas, one request in flight (so a retry cannot reorder), the Java client's partitioner
 * (murmur2 of the key, so other clients agree on the partition).
 *
 * Uncompressed: our events are a few hundred bytes of JSON, and gzip cost CPU in this producer,
 * in the broker (which decompresses to validate) and in every consumer for little saving.
 * Consumers still read compressed batches written earlier.
 */
export class OrderedProducer {
  private producer: Producer;
  private connected = false;

  constructor(private readonly kafka: Kafka) {
    this.producer = this.create();
  }

  private create(): Producer {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // Our own loop retries with backoff; kafkajs's retries would hide an outage for minutes.
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
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
      // A failed send may still have been written by the broker; kafkajs would then resend with
      // sequence numbers the broker refuses forever. A new producer gets a new producer id: the
      // retry can only add duplicates, which consumers ignore.
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
