export * from './lib/admin';
export * from './lib/consumer';
export * from './lib/errors';
export * from './lib/kafka-config';
export * from './lib/kafka.module';
export * from './lib/producer';
export * from './lib/topic-range';
export * from './lib/topics';
