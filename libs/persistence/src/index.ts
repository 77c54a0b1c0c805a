export * from './lib/as-of';
export * from './lib/check-constraints';
export * from './lib/data-source';
export * from './lib/database.module';
export * from './lib/entities/entities';
export * from './lib/failures';
export * from './lib/history';
export * from './lib/policy-row';
