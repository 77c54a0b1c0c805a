import type { DataSourceOptions } from 'typeorm';
import { ENTITIES } from './entities/entities';

export interface PostgresOptions {
  url: string;
  /** Pool size per process. */
  poolSize?: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
  /** Client-side timeout of one query. */
  queryTimeoutMs?: number;
  /** Passed to TypeORM (default: every entity). */
  entities?: DataSourceOptions['entities'];
}

/**
 * TypeORM options for the apps' PostgreSQL: the schema is the migrations' (`npm run migrate`), never
 * synchronised or migrated at start; connects fail fast.
 */
export function postgresOptions(options: PostgresOptions): DataSourceOptions {
  return {
    type: 'postgres',
    url: options.url,
    synchronize: false,
    migrationsRun: false,
    entities: options.entities ?? ENTITIES,
    applicationName: options.applicationName ?? 'traffic-manager',
    poolSize: options.poolSize ?? 10,
    extra: {
      // A dependency that is down must give a quick 503, not a request that hangs (a refused
      // connection fails at once; this bounds a hung one). It also bounds the wait for a pooled
      // connection, which a burst of writes on a loaded machine can take a few seconds to free.
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      // A query on a connection whose server vanished fails instead of hanging.
      query_timeout: options.queryTimeoutMs ?? 10_000,
    },
  };
}
