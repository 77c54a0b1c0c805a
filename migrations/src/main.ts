import 'reflect-metadata';
import { IsPostgresUrl, loadConfigOrExit } from '@tm/platform';
import { migrations } from './index';
import { runMigrations } from './run';

class MigrateConfig {
  @IsPostgresUrl()
  DATABASE_URL!: string;
}

/** `npm run migrate` and the Kubernetes migration Job: apply pending migrations, then exit. */
async function migrate(): Promise<void> {
  const config = loadConfigOrExit('migrate', MigrateConfig);
  const applied = await runMigrations(config.DATABASE_URL, migrations);
  process.stdout.write(
    JSON.stringify({ app: 'migrate', msg: applied.length ? `applied ${applied.join(', ')}` : 'schema up to date', applied }) + '\n',
  );
}

migrate().catch((e: unknown) => {
  process.stderr.write(`migrate: failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
