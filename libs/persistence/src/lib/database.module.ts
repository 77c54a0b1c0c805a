import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { withTimeout, type ReadinessCheck } from '@tm/platform';
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
      providers: [PostgresReadiness],
      exports: [PostgresReadiness],
    };
  }
}
