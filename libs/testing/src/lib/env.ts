import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root: the nearest folder above this file with nx.json (also from a bundle in dist/). */
export const REPO_ROOT = findRepoRoot(__dirname);

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no nx.json above ${from}: run from the repository`);
  }
}

/**
 * Where the tests find PostgreSQL, Redis and Kafka. `npm test` sets these; run alone, a test
 * falls back to the local defaults and to the broker that tools/kafka/kafka started.
 */
export function testInfra(): { postgresUrl: string; redisUrl: string; kafkaBrokers: string } {
  return {
    postgresUrl: process.env['TM_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: process.env['TM_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    kafkaBrokers: process.env['TM_TEST_KAFKA_BROKERS'] ?? localBroker() ?? '127.0.0.1:9092',
  };
}

function localBroker(): string | undefined {
  const file = join(REPO_ROOT, '.data', 'kafka', 'brokers');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** A short random suffix for names of databases, key prefixes and topics. */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
