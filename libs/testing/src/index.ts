export * from './lib/database';
export { sweepTestDatabases } from './lib/database-admin';
export * from './lib/env';
export * from './lib/kafka';
export * from './lib/processes';
export * from './lib/redis';
export * from './lib/stack';
export * from './lib/fault-proxy';
