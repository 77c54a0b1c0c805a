import { migrations, runMigrations } from '@tm/migrations';
import { dropTestDatabase, quoteIdent, templateName, TEST_DB_PREFIX, urlFor, withAdmin } from './database-admin';
import { uniqueSuffix } from './env';

const TEMPLATE_LOCK = 7_340_002;

export { dropTestDatabase, TEST_DB_PREFIX } from './database-admin';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Creates and migrates the run's template once, whichever test file asks first. */
async function ensureTemplate(): Promise<string> {
  const template = templateName();
  await withAdmin(async (admin) => {
    await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    try {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
      if (rowCount) return;
      await admin.query(`CREATE DATABASE ${quoteIdent(template)}`);
      try {
        await runMigrations(urlFor(template), migrations);
      } catch (e) {
        // A half-migrated template must not be cloned by the next test file.
        await admin.query(`DROP DATABASE ${quoteIdent(template)} WITH (FORCE)`);
        throw e;
      }
    } finally {
      await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
    }
  });
  return template;
}

/** A fresh, migrated database of this test file's own, cloned from the run's template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = await ensureTemplate();
  const name = `${TEST_DB_PREFIX}${uniqueSuffix()}`;
  await withAdmin(async (admin) => {
    // Cloning fails while another session is connected to the template; they are brief.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`);
        return;
      } catch (e) {
        if (attempt >= 20 || !String(e).includes('being accessed by other users')) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  return { name, url: urlFor(name), drop: () => dropTestDatabase(name) };
}

