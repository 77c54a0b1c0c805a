import { uniqueSuffix } from '../lib/env';

/** Runs once per jest run, before any test file: names the run, so its template is its own. */
export default function globalSetup(): void {
  process.env['TM_TEST_RUN_ID'] = uniqueSuffix();
}
