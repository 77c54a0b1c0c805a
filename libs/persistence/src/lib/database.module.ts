import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { CHECK_CONSTRAINT_FIELDS_TOKEN, withTimeout, type ReadinessCheck } from '@tm/platform';
import { CHECK_CONSTRAINT_FIELDS } from './check-constraints';
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
            // Start-up waits for the database a while, then the process exits with one line.
            retryAttempts: 10,
            retryDelay: 1_000,
            verboseRetryLog: false,
          }),
        }),
      ],
      // The problem filter names the field of a CHECK violation that reaches it.
      providers: [PostgresReadiness, { provide: CHECK_CONSTRAINT_FIELDS_TOKEN, useValue: CHECK_CONSTRAINT_FIELDS }],
      exports: [PostgresReadiness, CHECK_CONSTRAINT_FIELDS_TOKEN],
    };
  }
}
