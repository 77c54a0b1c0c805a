export * from './lib/bootstrap';
export * from './lib/config';
export * from './lib/health';
export * from './lib/logging';
export * from './lib/metrics';
export * from './lib/platform.module';
export * from './lib/problem';
export * from './lib/problem-docs';
