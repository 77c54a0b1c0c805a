import type { Logger } from '@nestjs/common';
import { Type } from 'class-transformer';
import { registerDecorator, type ValidationArguments } from 'class-validator';
import { ConfigResourceTypes, type Admin, type Kafka } from 'kafkajs';
import { Gauge, type Registry } from 'prom-client';
import { deadLetterTopic } from '@tm/contracts';

/** How a topic is to be: what the relay creates it with, and what every user of it checks. */
export interface TopicSettings {
  partitions: number;
  replicationFactor: number;
  /** The topic's `min.insync.replicas`: with acks from all in-sync replicas, a write needs this many. */
  minInsyncReplicas: number;
}

export interface TopicSpec extends TopicSettings {
  topic: string;
}

/**
 * The default `min.insync.replicas` for a replication factor: 2 from 3 replicas on (a write is on two
 * brokers before it is acknowledged, and one broker may be down), else 1 (with 2 replicas, 2 would stop
 * every write while either broker is down).
 */
export function defaultMinInsyncReplicas(replicationFactor: number): number {
  return replicationFactor >= 3 ? 2 : 1;
}

/** The topic variables of an app's configuration (the relay's and the worker's). */
export interface TopicConfig {
  KAFKA_TOPIC_PARTITIONS: number;
  KAFKA_REPLICATION_FACTOR: number;
  KAFKA_MIN_INSYNC_REPLICAS?: number;
}

export function topicSettings(config: TopicConfig): TopicSettings {
  return {
    partitions: config.KAFKA_TOPIC_PARTITIONS,
    replicationFactor: config.KAFKA_REPLICATION_FACTOR,
    minInsyncReplicas: config.KAFKA_MIN_INSYNC_REPLICAS ?? defaultMinInsyncReplicas(config.KAFKA_REPLICATION_FACTOR),
  };
}

/** The route events topic and its dead-letter topic: the same settings for both. */
export function routeEventTopics(topic: string, settings: TopicSettings): TopicSpec[] {
  return [
    { topic, ...settings },
    { topic: deadLetterTopic(topic), ...settings },
  ];
}

/**
 * KAFKA_MIN_INSYNC_REPLICAS (optional): a whole number from 1 to KAFKA_REPLICATION_FACTOR (a topic
 * whose min.insync.replicas exceeds its replicas refuses every write with acks=all).
 */
export function IsMinInsyncReplicas(): PropertyDecorator {
  return (target, propertyName) => {
    Type(() => Number)(target, propertyName);
    registerDecorator({
      name: 'isMinInsyncReplicas',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: 'expected a whole number from 1 to KAFKA_REPLICATION_FACTOR' },
      validator: {
        validate(value: unknown, args: ValidationArguments) {
          const rf = Number((args.object as Record<string, unknown>)['KAFKA_REPLICATION_FACTOR'] ?? 1);
          const n = typeof value === 'string' ? Number(value) : value;
          return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= rf;
        },
      },
    });
  };
}

export type TopicSetting = 'exists' | 'partitions' | 'replication_factor' | 'min_insync_replicas';

/** A topic as the cluster has it; `undefined` settings: the topic does not exist. */
export interface TopicState {
  topic: string;
  exists: boolean;
  partitions?: number;
  /** The fewest replicas any partition has (one partition with fewer is under-replicated). */
  replicationFactor?: number;
  minInsyncReplicas?: number;
}

export interface TopicMismatch {
  topic: string;
  setting: TopicSetting;
  expected: number | boolean;
  actual: number | boolean | undefined;
}

/** What differs between the settings a topic should have and what it has. */
export function topicMismatches(spec: TopicSpec, state: TopicState): TopicMismatch[] {
  if (!state.exists) return [{ topic: spec.topic, setting: 'exists', expected: true, actual: false }];
  const found: TopicMismatch[] = [];
  const compare = (setting: TopicSetting, expected: number, actual: number | undefined) => {
    if (actual !== expected) found.push({ topic: spec.topic, setting, expected, actual });
  };
  compare('partitions', spec.partitions, state.partitions);
  compare('replication_factor', spec.replicationFactor, state.replicationFactor);
  compare('min_insync_replicas', spec.minInsyncReplicas, state.minInsyncReplicas);
  return found;
}

/** Reads the topics' partitions, replicas and min.insync.replicas from the cluster. */
export async function describeTopics(admin: Admin, topics: string[]): Promise<TopicState[]> {
  const existing = new Set(await admin.listTopics());
  const present = topics.filter((t) => existing.has(t));
  const metadata = present.length > 0 ? (await admin.fetchTopicMetadata({ topics: present })).topics : [];
  const configs =
    present.length > 0
      ? (
          await admin.describeConfigs({
            includeSynonyms: false,
            resources: present.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['min.insync.replicas'] })),
          })
        ).resources
      : [];
  return topics.map((topic) => {
    const meta = metadata.find((m) => m.name === topic);
    if (!existing.has(topic) || !meta) return { topic, exists: false };
    const value = configs.find((c) => c.resourceName === topic)?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
    return {
      topic,
      exists: true,
      partitions: meta.partitions.length,
      replicationFactor: Math.min(...meta.partitions.map((p) => p.replicas.length)),
      minInsyncReplicas: value === undefined ? undefined : Number(value),
    };
  });
}

async function withAdmin<T>(kafka: Kafka, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Creates the topics that are missing, with their settings; then checks all of them. The one place
 * topics are created (the relay calls it at start): a consumer only checks (`checkTopics`), so a
 * topic is never created by whoever happens to start first with settings of its own. An existing
 * topic is never changed (fewer partitions would be refused, more would move keys to other
 * partitions and break their order): what differs is returned, for `TopicReport`.
 */
export async function ensureTopics(kafka: Kafka, specs: TopicSpec[]): Promise<{ created: string[]; mismatches: TopicMismatch[] }> {
  return withAdmin(kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    let missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length > 0) {
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((s) => ({
            topic: s.topic,
            numPartitions: s.partitions,
            replicationFactor: s.replicationFactor,
            configEntries: [{ name: 'min.insync.replicas', value: String(s.minInsyncReplicas) }],
          })),
        });
      } catch (e) {
        // Another replica created them a moment earlier; anything else is for the caller to retry.
        if (!/already exists/i.test(e instanceof Error ? e.message : String(e))) throw e;
        missing = [];
      }
    }
    const states = await describeTopics(admin, specs.map((s) => s.topic));
    return { created: missing.map((s) => s.topic), mismatches: specs.flatMap((s, i) => topicMismatches(s, states[i] as TopicState)) };
  });
}

/** Checks the topics against their settings, creating nothing. */
export async function checkTopics(kafka: Kafka, specs: TopicSpec[]): Promise<TopicMismatch[]> {
  return withAdmin(kafka, async (admin) => {
    const states = await describeTopics(admin, specs.map((s) => s.topic));
    return specs.flatMap((s, i) => topicMismatches(s, states[i] as TopicState));
  });
}

const SETTINGS: TopicSetting[] = ['exists', 'partitions', 'replication_factor', 'min_insync_replicas'];

/**
 * Reports topic checks: the gauge `tm_kafka_topic_mismatch{topic,setting}` (1 while the setting
 * differs from the configuration, else 0; `exists` is 1 while the topic is missing) and one warning
 * line per difference, naming the topic, the setting, what is expected and what the topic has.
 */
export class TopicReport {
  private readonly gauge: Gauge;
  private logged = new Set<string>();

  constructor(
    registry: Registry,
    private readonly logger: Logger,
  ) {
    this.gauge =
      (registry.getSingleMetric('tm_kafka_topic_mismatch') as Gauge | undefined) ??
      new Gauge({
        name: 'tm_kafka_topic_mismatch',
        help: 'Whether a topic setting differs from the configuration (1) or not (0), as checked at start; exists: 1 while the topic is missing',
        labelNames: ['topic', 'setting'],
        registers: [registry],
      });
  }

  report(specs: TopicSpec[], mismatches: TopicMismatch[]): void {
    for (const spec of specs) {
      const missing = mismatches.some((m) => m.topic === spec.topic && m.setting === 'exists');
      for (const setting of SETTINGS) {
        // A missing topic has no settings to compare: only `exists` says something.
        if (missing && setting !== 'exists') continue;
        this.gauge.set({ topic: spec.topic, setting }, mismatches.some((m) => m.topic === spec.topic && m.setting === setting) ? 1 : 0);
      }
    }
    // Said once while it lasts: a consumer waiting for its topic checks again and again.
    const lines = new Set<string>();
    for (const m of mismatches) {
      const line = `${m.topic}/${m.setting}/${String(m.actual)}`;
      lines.add(line);
      if (this.logged.has(line)) continue;
      if (m.setting === 'exists') this.logger.warn(`topic ${m.topic} does not exist (the outbox relay creates it at start)`);
      else
        this.logger.warn(
          `topic ${m.topic}: ${m.setting} is ${m.actual ?? 'unknown'}, expected ${m.expected} (KAFKA_TOPIC_PARTITIONS, KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS); the topic is used as it is: change it with Kafka's tools`,
        );
    }
    this.logged = lines;
  }
}
