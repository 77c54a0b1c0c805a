import { Client } from 'pg';
import { testInfra } from './env';

// No path-alias imports here: jest's global teardown loads this file outside jest's resolver.

/** Every database the harness creates starts with this; it drops nothing else. */
export const TEST_DB_PREFIX = 'tm_test_';
/** Test databases older than this are leftovers of a run that died: swept at the next run. */
const STALE_AFTER_MS = 6 * 60 * 60 * 1000;

export function urlFor(database: string): string {
  const url = new URL(testInfra().postgresUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function withAdmin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: testInfra().postgresUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function quoteIdent(name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unsafe database name ${name}`);
  return `"${name}"`;
}

/** The run's template database; `TM_TEST_RUN_ID` is set by the jest global setup. */
export function templateName(): string {
  const run = process.env['TM_TEST_RUN_ID'];
  if (!run) throw new Error('TM_TEST_RUN_ID is not set: run tests through jest (the global setup sets it)');
  return `${TEST_DB_PREFIX}tpl_${run}`;
}

/** Drops a database the harness made; refuses any other name. */
export async function dropTestDatabase(name: string): Promise<void> {
  if (!name.startsWith(TEST_DB_PREFIX)) throw new Error(`refusing to drop ${name}: not a test database`);
  await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
}

/** Drops the run's template, and test databases left behind by runs that died hours ago. */
export async function sweepTestDatabases(options: { includeTemplate: boolean }): Promise<string[]> {
  const { rows } = await withAdmin((admin) =>
    admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${TEST_DB_PREFIX}%`]),
  );
  const now = Date.now();
  const doomed = rows
    .map((r) => r.datname)
    .filter((name) => {
      if (options.includeTemplate && name === templateName()) return true;
      const stamp = /^tm_test_(?:tpl_)?([0-9a-z]{8})/.exec(name)?.[1];
      const created = stamp ? parseInt(stamp, 36) : NaN;
      return Number.isFinite(created) && now - created > STALE_AFTER_MS;
    });
  for (const name of doomed) await dropTestDatabase(name);
  return doomed;
}
