export * from './lib/feed-reports';
export * from './lib/positions';
