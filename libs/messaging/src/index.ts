export * from './lib/kafka.module';
export * from './lib/producer';
export * from './lib/topics';
