// `npm test`: lint, type checks and every test (unit, integration, end-to-end), against real
// PostgreSQL, Redis and Kafka provisioned the way `npm start` does it. Exits non-zero on any failure.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDependencies, ensureKafka, ensurePostgres, ensureRedis, run, say, SetupError } from './infra.mjs';

const cleanups = [];
let exitCode = 0;
const started = Date.now();
const reportDir = mkdtempSync(join(tmpdir(), 'tm-test-'));

function totals() {
  const sum = { passed: 0, failed: 0, skipped: 0 };
  for (const file of readdirSync(reportDir)) {
    const counts = JSON.parse(readFileSync(join(reportDir, file), 'utf8'));
    for (const key of Object.keys(sum)) sum[key] += counts[key];
  }
  return sum;
}

async function main() {
  ensureDependencies();
  const postgres = await ensurePostgres({ ...process.env, DATABASE_URL: process.env.TM_TEST_DATABASE_URL }, 'postgres');
  const redis = await ensureRedis({ ...process.env, REDIS_URL: process.env.TM_TEST_REDIS_URL });
  cleanups.push(redis.stop);
  const kafka = await ensureKafka({ ...process.env, KAFKA_BROKERS: process.env.TM_TEST_KAFKA_BROKERS });
  cleanups.push(kafka.stop);
  const env = {
    ...process.env,
    TM_TEST_DATABASE_URL: postgres,
    TM_TEST_REDIS_URL: redis.url,
    TM_TEST_KAFKA_BROKERS: kafka.brokers,
    TM_TEST_REPORT_DIR: reportDir,
    NX_NO_CLOUD: 'true',
  };
  say('lint');
  run('npx', ['nx', 'run-many', '-t', 'lint', '--output-style=static'], { env });
  say('type check');
  run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], { env });
  say(`tests (PostgreSQL ${postgres}, Redis ${redis.url}, Kafka ${kafka.brokers})`);
  try {
    run('npx', ['nx', 'run-many', '-t', 'test', '--output-style=static'], { env });
  } finally {
    const sum = totals();
    say(`finished in ${Math.round((Date.now() - started) / 1000)} s`);
    process.stdout.write(`${sum.passed} passed, ${sum.failed} failed${sum.skipped ? `, ${sum.skipped} skipped` : ''}\n`);
    if (sum.passed === 0) throw new SetupError('no test ran');
  }
}

try {
  await main();
} catch (e) {
  process.stderr.write(`npm test: ${e instanceof SetupError ? e.message : e.stack}\n`);
  exitCode = 1;
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  rmSync(reportDir, { recursive: true, force: true });
}
process.exit(exitCode);
