import { freePort, testInfra } from '@tm/testing';
import { createKafka, KafkaReadiness, parseBrokers } from './kafka.module';

describe('KafkaReadiness', () => {
  it('is ready when the cluster answers', async () => {
    const readiness = new KafkaReadiness(createKafka({ brokers: parseBrokers(testInfra().kafkaBrokers), clientId: 'test' }));
    try {
      await expect(readiness.check()).resolves.toBeUndefined();
    } finally {
      await readiness.onApplicationShutdown();
    }
  });

  it('is not ready, within its timeout, when no broker listens', async () => {
    const readiness = new KafkaReadiness(createKafka({ brokers: [`127.0.0.1:${await freePort()}`], clientId: 'test' }));
    const started = Date.now();
    await expect(readiness.check()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
    await readiness.onApplicationShutdown();
  });
});

describe('parseBrokers', () => {
  it('splits and trims', () => {
    expect(parseBrokers(' a:1, b:2 ,')).toEqual(['a:1', 'b:2']);
  });
});
