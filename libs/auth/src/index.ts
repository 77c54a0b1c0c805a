export * from './lib/api-key-verifier';
export * from './lib/auth.guard';
export * from './lib/auth.module';
export * from './lib/keys';
export * from './lib/principal';
export * from './lib/outage-credentials';
export * from './lib/whoami.controller';
