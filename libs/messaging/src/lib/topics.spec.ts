import { Logger } from '@nestjs/common';
import { Registry } from 'prom-client';
import { defaultMinInsyncReplicas, routeEventTopics, TopicReport, topicMismatches, topicSettings } from './topics';

describe('topic settings', () => {
  it('min.insync.replicas defaults to 1 below 3 replicas, 2 from 3 on; a configured value wins', () => {
    expect([1, 2, 3, 5].map(defaultMinInsyncReplicas)).toEqual([1, 1, 2, 2]);
    expect(topicSettings({ KAFKA_TOPIC_PARTITIONS: 6, KAFKA_REPLICATION_FACTOR: 3 })).toEqual({ partitions: 6, replicationFactor: 3, minInsyncReplicas: 2 });
    expect(topicSettings({ KAFKA_TOPIC_PARTITIONS: 6, KAFKA_REPLICATION_FACTOR: 3, KAFKA_MIN_INSYNC_REPLICAS: 3 }).minInsyncReplicas).toBe(3);
  });

  it('the dead-letter topic gets the same settings as the topic', () => {
    const settings = { partitions: 3, replicationFactor: 3, minInsyncReplicas: 2 };
    expect(routeEventTopics('tm.route-events.v1', settings)).toEqual([
      { topic: 'tm.route-events.v1', ...settings },
      { topic: 'tm.route-events.v1.dlq', ...settings },
    ]);
  });

  it('names each setting that differs, and only a missing topic when it is missing', () => {
    const spec = { topic: 't', partitions: 6, replicationFactor: 3, minInsyncReplicas: 2 };
    expect(topicMismatches(spec, { topic: 't', exists: true, partitions: 6, replicationFactor: 3, minInsyncReplicas: 2 })).toEqual([]);
    expect(topicMismatches(spec, { topic: 't', exists: true, partitions: 2, replicationFactor: 1, minInsyncReplicas: 1 })).toEqual([
      { topic: 't', setting: 'partitions', expected: 6, actual: 2 },
      { topic: 't', setting: 'replication_factor', expected: 3, actual: 1 },
      { topic: 't', setting: 'min_insync_replicas', expected: 2, actual: 1 },
    ]);
    expect(topicMismatches(spec, { topic: 't', exists: false })).toEqual([{ topic: 't', setting: 'exists', expected: true, actual: false }]);
  });
});

describe('TopicReport', () => {
  it('sets the gauge per topic and setting, and warns once per difference while it lasts', async () => {
    const registry = new Registry();
    const warnings: string[] = [];
    const logger = Object.assign(new Logger('test'), { warn: (line: string) => void warnings.push(line) });
    const report = new TopicReport(registry, logger);
    const specs = [{ topic: 't', partitions: 6, replicationFactor: 3, minInsyncReplicas: 2 }];
    const mismatch = { topic: 't', setting: 'replication_factor' as const, expected: 3, actual: 1 };
    report.report(specs, [mismatch]);
    report.report(specs, [mismatch]);
    expect(warnings).toEqual([expect.stringMatching(/^topic t: replication_factor is 1, expected 3/)]);
    const text = await registry.metrics();
    expect(text).toContain('tm_kafka_topic_mismatch{topic="t",setting="replication_factor"} 1');
    expect(text).toContain('tm_kafka_topic_mismatch{topic="t",setting="partitions"} 0');
    // A second report (another app in one registry) reuses the gauge.
    expect(() => new TopicReport(registry, logger)).not.toThrow();
  });
});
