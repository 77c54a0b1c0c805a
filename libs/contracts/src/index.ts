export * from './lib/events';
export * from './lib/http';
export * from './lib/names';
export * from './lib/scopes';
export * from './lib/topics';
export * from './lib/urls';
export * from './lib/watch';
