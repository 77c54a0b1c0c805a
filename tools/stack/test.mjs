// `npm test`: lint, type checks and every test (unit, integration, end-to-end), against real
// PostgreSQL, Redis and Kafka provisioned the way `npm start` does it. Exits non-zero on any failure.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianTool, ToolError } from './debian.mjs';
import { ensureDependencies, ensureKafka, ensurePostgres, ensureRedis, envValue, masked, run, say, SetupError, stopRunning } from './infra.mjs';

const cleanups = [];
const started = Date.now();
const reportDir = mkdtempSync(join(tmpdir(), 'tm-test-'));
cleanups.push(async () => rmSync(reportDir, { recursive: true, force: true }));
let finishing;

function totals() {
  const sum = { passed: 0, failed: 0, skipped: 0 };
  for (const file of readdirSync(reportDir)) {
    const counts = JSON.parse(readFileSync(join(reportDir, file), 'utf8'));
    for (const key of Object.keys(sum)) sum[key] += counts[key];
  }
  return sum;
}

/** Undoes what this run set up (Kafka, Redis, the report folder), once, then exits. */
function finish(code) {
  finishing ??= (async () => {
    await stopRunning();
    for (const cleanup of [...cleanups].reverse()) await cleanup().catch(() => undefined);
    process.exit(code);
  })();
  return finishing;
}

async function main() {
  await ensureDependencies();
  const testEnv = (name) => envValue(process.env, name);
  const postgres = await ensurePostgres({ ...process.env, DATABASE_URL: testEnv('TM_TEST_DATABASE_URL') }, 'postgres');
  const redis = await ensureRedis({ ...process.env, REDIS_URL: testEnv('TM_TEST_REDIS_URL') });
  cleanups.push(redis.stop);
  const kafka = await ensureKafka({ ...process.env, KAFKA_BROKERS: testEnv('TM_TEST_KAFKA_BROKERS') }, (stop) => cleanups.push(stop));
  // The console's browser tests drive Debian's chromium (Playwright's own downloads cannot be fetched here).
  // DNS is asked by dig (Debian's bind9-dnsutils), a client nobody here wrote.
  let chromium;
  let dig;
  try {
    chromium = envValue(process.env, 'TM_TEST_CHROMIUM') ?? debianTool('/usr/bin/chromium', 'chromium', say, "to run the console's browser tests");
    dig = envValue(process.env, 'TM_TEST_DIG') ?? debianTool('/usr/bin/dig', 'bind9-dnsutils', say, 'to ask the DNS server in the tests');
  } catch (e) {
    throw e instanceof ToolError ? new SetupError(e.message) : e;
  }
  const env = {
    ...process.env,
    TM_TEST_CHROMIUM: chromium,
    TM_TEST_DIG: dig,
    TM_TEST_DATABASE_URL: postgres,
    TM_TEST_REDIS_URL: redis.url,
    TM_TEST_KAFKA_BROKERS: kafka.brokers,
    TM_TEST_REPORT_DIR: reportDir,
    NX_NO_CLOUD: 'true',
  };
  say('lint');
  await run('npx', ['nx', 'run-many', '-t', 'lint', '--output-style=static'], { env });
  say('type check');
  await run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], { env });
  await run('npx', ['tsc', '-p', 'apps/console/tsconfig.json', '--noEmit'], { env });
  say(`tests (PostgreSQL ${masked(postgres)}, Redis ${masked(redis.url)}, Kafka ${kafka.brokers})`);
  const tests = await run('npx', ['nx', 'run-many', '-t', 'test', '--output-style=static'], { env }).then(
    () => undefined,
    (e) => e,
  );
  const sum = totals();
  say(`finished in ${Math.round((Date.now() - started) / 1000)} s`);
  process.stdout.write(`${sum.passed} passed, ${sum.failed} failed${sum.skipped ? `, ${sum.skipped} skipped` : ''}\n`);
  if (sum.passed === 0) throw new SetupError('no test ran');
  if (tests) throw tests;
}

process.on('SIGINT', () => void finish(130));
process.on('SIGTERM', () => void finish(143));
main().then(
  () => finish(0),
  (e) => {
    process.stderr.write(`npm test: ${e instanceof SetupError ? e.message : e.stack}\n`);
    return finish(1);
  },
);
