// `npm run check:consistency [-- --long | --duration 120 --ttl 3 --clients 8 --seed 42 --faults a,b --kafka-brokers 3 --redis-cluster --replica --out dir | --recheck dir]`:
// starts the real system, runs concurrent clients while injecting faults, checks the history.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sweepTestDatabases, uniqueSuffix, REPO_ROOT } from '@tm/testing';
import { faultsFor, KAFKA_CLUSTER_FAULTS, REPLICA_FAULTS, type FaultName } from './lib/history';
import { renderReport } from './lib/report';
import { checkSaved, LONG_RUN, runConsistencyCheck, SHORT_RUN } from './lib/run';
import { loadRun } from './lib/saved';

function fail(message: string): never {
  process.stderr.write(`check:consistency: ${message}\n`);
  process.exit(2);
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number, got "${value}"`);
  return n;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        long: { type: 'boolean', default: false },
        duration: { type: 'string' },
        ttl: { type: 'string' },
        clients: { type: 'string' },
        'sdk-clients': { type: 'string' },
        seed: { type: 'string' },
        faults: { type: 'string' },
        'kafka-brokers': { type: 'string' },
        out: { type: 'string' },
        recheck: { type: 'string' },
        'redis-cluster': { type: 'boolean', default: false },
        replica: { type: 'boolean', default: false },
      },
    }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (parsed.recheck !== undefined) {
    // Checks a saved run again (after a change to the checker, or to read it closely).
    const saved = await loadRun(parsed.recheck);
    const run = { ...saved, result: checkSaved(saved) };
    process.stdout.write(`${renderReport(run)}\n`);
    return run.result.violations.length === 0 ? 0 : 1;
  }
  const base = parsed.long ? LONG_RUN : SHORT_RUN;
  const kafkaBrokers = positive('kafka-brokers', parsed['kafka-brokers'], base.kafkaBrokers);
  if (!Number.isInteger(kafkaBrokers) || kafkaBrokers === 2 || kafkaBrokers > 5) fail('--kafka-brokers must be 1 (one broker) or 3 to 5 (a cluster; the topic is replicated 3 times)');
  const redisCluster = parsed['redis-cluster'] === true;
  // A Redis Cluster has Redis faults of its own; a Kafka cluster adds its own to the default list.
  const redisFaults = faultsFor(redisCluster);
  const replica = parsed.replica === true;
  const known = [...redisFaults, ...KAFKA_CLUSTER_FAULTS, ...REPLICA_FAULTS];
  const defaults = [...redisFaults, ...(kafkaBrokers > 1 ? KAFKA_CLUSTER_FAULTS : []), ...(replica ? REPLICA_FAULTS : [])];
  const faults = parsed.faults === undefined ? defaults : (parsed.faults.split(',').filter(Boolean) as FaultName[]);
  const unknown = faults.find((f) => !known.includes(f));
  if (unknown) fail(`unknown fault "${unknown}"${redisCluster ? ' with --redis-cluster' : ''}; known: ${known.join(', ')}`);
  const clusterOnly = faults.find((f) => KAFKA_CLUSTER_FAULTS.includes(f));
  if (clusterOnly && kafkaBrokers === 1) fail(`${clusterOnly} needs a Kafka cluster: add --kafka-brokers 3`);
  const replicaOnly = faults.find((f) => REPLICA_FAULTS.includes(f));
  if (replicaOnly && !replica) fail(`${replicaOnly} needs a PostgreSQL replica: add --replica`);
  const ttl = positive('ttl', parsed.ttl, base.ttlSeconds);
  if (ttl > 60 || !Number.isInteger(ttl)) fail('--ttl must be a whole number of seconds, at most 60');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = parsed.out ?? join(REPO_ROOT, '.data', 'consistency', stamp);
  // The harness clones one migrated template database per run, named by this id.
  process.env['TM_TEST_RUN_ID'] ??= uniqueSuffix();
  // Ctrl-C: heal, stop every process of the run and clean up; a second one exits at once.
  const interrupt = new AbortController();
  const onSignal = () => (interrupt.signal.aborted ? process.exit(130) : interrupt.abort());
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const run = await runConsistencyCheck({
      ...base,
      durationMs: positive('duration', parsed.duration, base.durationMs / 1000) * 1000,
      ttlSeconds: ttl,
      clients: Math.round(positive('clients', parsed.clients, base.clients)),
      sdkClients: parsed['sdk-clients'] === '0' ? 0 : Math.round(positive('sdk-clients', parsed['sdk-clients'], base.sdkClients)),
      seed: Math.round(positive('seed', parsed.seed, Math.floor(Math.random() * 1e9) + 1)),
      faults,
      kafkaBrokers,
      redisCluster,
      replica,
      outDir,
      log: (line) => process.stdout.write(`${line}\n`),
      signal: interrupt.signal,
    });
    const report = renderReport(run);
    writeFileSync(join(outDir, 'report.md'), `${report}\n`);
    process.stdout.write(`\n${report}\n\nHistory: ${join(outDir, 'history.jsonl')}\n`);
    return run.result.violations.length === 0 ? 0 : 1;
  } finally {
    await sweepTestDatabases({ includeTemplate: true }).catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    // One line; the stack only when asked for (TM_DEBUG=1).
    const detail = e instanceof Error ? (process.env['TM_DEBUG'] ? (e.stack ?? e.message) : e.message.split('\n')[0]) : String(e);
    const hint = /ECONNREFUSED|ENOTFOUND/.test(detail) ? ' (PostgreSQL and Redis must run locally, or set TM_TEST_DATABASE_URL / TM_TEST_REDIS_URL)' : '';
    process.stderr.write(`check:consistency: ${detail}${hint}\n`);
    process.exit(detail.startsWith('interrupted') ? 130 : 1);
  },
);
