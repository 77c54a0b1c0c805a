import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { testInfra, uniqueSuffix } from './env';

export interface ReadMessage {
  partition: number;
  offset: string;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/** Reads a topic from the beginning, in the background, for as long as a test needs it. */
export class TopicReader {
  readonly messages: ReadMessage[] = [];
  private constructor(private readonly consumer: Consumer) {}

  /** Starts reading `topic`, waiting (up to 30 s) for it to exist: apps create their topics lazily. */
  static async start(topic: string, brokers = testInfra().kafkaBrokers): Promise<TopicReader> {
    const kafka = new Kafka({ clientId: 'tm-test-reader', brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 30 } });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const deadline = Date.now() + 30_000;
      while (!(await admin.listTopics()).includes(topic)) {
        if (Date.now() > deadline) throw new Error(`topic ${topic} did not appear within 30 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({ groupId: `tm-test-${uniqueSuffix()}`, retry: { retries: 30 } });
    const reader = new TopicReader(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        reader.messages.push({ partition, offset: message.offset, key: String(message.key), value: String(message.value), headers });
      },
    });
    return reader;
  }

  /** Waits until `done(messages)` holds; fails after the timeout with what arrived. */
  async waitFor(done: (messages: ReadMessage[]) => boolean, timeoutMs = 30_000): Promise<ReadMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.messages)) {
      if (Date.now() > deadline) throw new Error(`timed out with ${this.messages.length} messages read`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.messages;
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
