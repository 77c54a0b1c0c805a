// `npm run migrate`: applies pending migrations to DATABASE_URL (default: the local traffic_manager).
import { join } from 'node:path';
import { ensureDependencies, ensurePostgres, masked, repo, run, say, SetupError } from './infra.mjs';

try {
  await ensureDependencies();
  const databaseUrl = await ensurePostgres(process.env, 'traffic_manager');
  await run('npx', ['nx', 'build', 'migrations', '--output-style=static']);
  say(`migrating ${masked(databaseUrl)}`);
  await run(process.execPath, [join(repo, 'dist', 'migrations', 'main.js')], { env: { ...process.env, DATABASE_URL: databaseUrl } });
} catch (e) {
  process.stderr.write(`npm run migrate: ${e instanceof SetupError ? e.message : e.stack}\n`);
  process.exit(1);
}
