import { sweepTestDatabases } from '../lib/database-admin';

/** Drops the run's template database and leftovers of runs that died. */
export default async function globalTeardown(): Promise<void> {
  if (!process.env['TM_TEST_RUN_ID']) return;
  try {
    await sweepTestDatabases({ includeTemplate: true });
  } catch (e) {
    // No PostgreSQL (a unit-only run): nothing was created, nothing to drop.
    if (!/ECONNREFUSED|ENOTFOUND|timeout/i.test(String(e))) throw e;
  }
}
