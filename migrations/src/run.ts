// TypeORM loads its PostgreSQL driver by name at run time; importing it here is what puts pg in the
// package.json that `nx build migrations` generates for the migration Job's image.
import 'pg';
import { DataSource, type MigrationInterface } from 'typeorm';

/** Serialises concurrent runners (two Jobs, two developers): a session-level advisory lock. */
const MIGRATION_LOCK = 7_340_001;

/**
 * Applies the pending migrations to the database at `url`, each in its own transaction, under an
 * advisory lock. Returns the names of the migrations applied. Only this runner touches the
 * migrations table; the apps never migrate.
 */
export async function runMigrations(
  url: string,
  migrations: (new () => MigrationInterface)[],
): Promise<string[]> {
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    migrations,
    migrationsTableName: 'typeorm_migrations',
    applicationName: 'tm-migrate',
    poolSize: 2,
    extra: { connectionTimeoutMillis: 5_000 },
  });
  await dataSource.initialize();
  const lock = dataSource.createQueryRunner();
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.release();
    await dataSource.destroy();
  }
}
