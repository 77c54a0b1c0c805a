import { CompressionTypes, Partitioners, type Kafka, type Producer } from 'kafkajs';

export interface OutgoingMessage {
  key: string;
  value: string;
  headers?: Record<string, string>;
}

/**
 * A Kafka producer for events whose order per key matters: idempotent, acks from all in-sync
 * replicas, one request in flight (so a retry cannot reorder), the Java client's partitioner
 * (murmur2 of the key, so other clients agree on the partition).
 */
export class OrderedProducer {
  private readonly producer: Producer;
  private connected = false;

  constructor(kafka: Kafka) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // Our own loop retries with backoff; kafkajs's retries would hide an outage for minutes.
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
    });
    this.producer.on(this.producer.events.DISCONNECT, () => {
      this.connected = false;
    });
  }

  /** Sends the messages in order and resolves once every one is acknowledged by all in-sync replicas. */
  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (!this.connected) {
      await this.producer.connect();
      this.connected = true;
    }
    try {
      await this.producer.send({ topic, acks: -1, compression: CompressionTypes.None, messages });
    } catch (e) {
      // Start from a fresh connection next time (and a fresh producer id sequence on the broker side).
      await this.disconnect();
      throw e;
    }
  }

  async disconnect(): Promise<void> {
    this.connected = false;
    await this.producer.disconnect().catch(() => undefined);
  }
}
