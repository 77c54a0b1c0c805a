export * from './lib/deadline';
export * from './lib/entry';
export * from './lib/health-store';
export * from './lib/node-identity';
export * from './lib/redis.module';
export * from './lib/route-cache';
export * from './lib/scripts';
