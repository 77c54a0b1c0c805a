import type { Admin } from 'kafkajs';
import type { KafkaClient } from './kafka.module';

/** A partition's bounds: `low` is its oldest kept offset, `high` the next one to be written. */
export interface PartitionBounds {
  partition: number;
  low: string;
  high: string;
}

/** An offset of a partition of one topic. */
export interface PartitionPosition {
  partition: number;
  offset: string;
}

/**
 * The admin requests our apps make about offsets and groups, over one connection: `connect()`
 * first, `disconnect()` after (also after a failure).
 */
export class TopicAdmin {
  private readonly admin: Admin;

  /** `retries`: of each request (default: the client's); 0 for a caller that asks again itself. */
  constructor(kafka: KafkaClient, options: { retries?: number } = {}) {
    this.admin = kafka.admin(options.retries === undefined ? undefined : { retry: { retries: options.retries } });
  }

  async connect(): Promise<void> {
    await this.admin.connect();
  }

  async disconnect(): Promise<void> {
    await this.admin.disconnect();
  }

  async listTopics(): Promise<string[]> {
    return this.admin.listTopics();
  }

  /** Every partition's bounds. */
  async partitionBounds(topic: string): Promise<PartitionBounds[]> {
    return (await this.admin.fetchTopicOffsets(topic)).map(({ partition, low, high }) => ({ partition, low, high }));
  }

  /** Every partition's first offset whose timestamp is at or after `timestamp` (ms); none: the partition's end (`high`). */
  async offsetsAtTime(topic: string, timestamp: number): Promise<PartitionPosition[]> {
    return (await this.admin.fetchTopicOffsetsByTimestamp(topic, timestamp)).map(({ partition, offset }) => ({ partition, offset }));
  }

  /** The group's committed offsets on the topic, per partition; `-1`: none committed. */
  async committedOffsets(groupId: string, topic: string): Promise<PartitionPosition[]> {
    const [committed] = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    return (committed?.partitions ?? []).map(({ partition, offset }) => ({ partition, offset }));
  }

  async deleteGroups(groupIds: string[]): Promise<void> {
    await this.admin.deleteGroups(groupIds);
  }
}
