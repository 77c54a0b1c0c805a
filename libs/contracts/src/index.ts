export * from './lib/names';
export * from './lib/topics';
export * from './lib/http';
