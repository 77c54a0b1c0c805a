export * from './lib/quota-metrics';
export * from './lib/rate-limiter';
export * from './lib/rate-limit.module';
