import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger, Module, type DynamicModule, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { STORE_ERRORS, withTimeout, type ReadinessCheck, type StoreErrors } from '@tm/platform';
import { storeErrorMeaning } from './pg-errors';
import { postgresOptions, type PostgresOptions } from './data-source';

/** Ready when PostgreSQL answers a query within a second. */
@Injectable()
export class PostgresReadiness implements ReadinessCheck {
  readonly name = 'postgres';

  constructor(private readonly dataSource: DataSource) {}

  async check(): Promise<void> {
    await withTimeout(this.dataSource.query('SELECT 1'), 1_000, 'PostgreSQL');
  }
}

/**
 * Connects the data source in the background, retrying until PostgreSQL answers (docs/guarantees.md: every
 * deployable starts while a dependency is down and serves what it can as soon as it returns). Until
 * then a query fails with TypeORM's "Driver not Connected", which counts as unavailable (503), and
 * readiness names PostgreSQL.
 */
@Injectable()
export class DatabaseConnector implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('PostgreSQL');
  private readonly stop = new AbortController();
  private connecting: Promise<void> | undefined;

  constructor(private readonly dataSource: DataSource) {}

  onModuleInit(): void {
    this.connecting = this.connectUntilUp();
  }

  /** Resolves once connected (tests and tools that need the database before going on). */
  connected(): Promise<void> {
    return this.connecting ?? Promise.resolve();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stop.abort();
    await this.connecting;
  }

  private async connectUntilUp(): Promise<void> {
    for (let attempt = 0; !this.stop.signal.aborted; attempt++) {
      try {
        await this.dataSource.initialize();
        if (attempt > 0) this.logger.log('PostgreSQL: connected');
        return;
      } catch (e) {
        if (attempt === 0) this.logger.warn(`PostgreSQL: not reachable yet (${e instanceof Error ? e.message : String(e)}); retrying`);
        // A pool whose first connection failed is left behind by TypeORM; close it before the next try.
        const driver = this.dataSource.driver as { master?: { end(): Promise<void> } };
        await driver.master?.end().catch(() => undefined);
        driver.master = undefined;
        await sleep(Math.min(100 * 2 ** attempt, 2_000), undefined, { signal: this.stop.signal }).catch(() => undefined);
      }
    }
  }
}

/** The app's TypeORM data source, from DATABASE_URL. */
@Module({})
export class DatabaseModule {
  static forRoot(options: PostgresOptions): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({
            ...(postgresOptions(options) as DataSourceOptions & { type: 'postgres' }),
            // The app starts without the database: DatabaseConnector connects it, retrying without end.
            manualInitialization: true,
          }),
        }),
      ],
      // The problem filter answers the database's errors that reach it as pg-errors.ts reads them (a
      // CHECK violation names its field, an unreachable database is a 503).
      providers: [PostgresReadiness, DatabaseConnector, { provide: STORE_ERRORS, useValue: { meaning: storeErrorMeaning } satisfies StoreErrors }],
      exports: [PostgresReadiness, DatabaseConnector, STORE_ERRORS],
    };
  }
}
