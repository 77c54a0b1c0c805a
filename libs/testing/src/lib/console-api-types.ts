import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './env';

/**
 * The console's API types (apps/console/src/api/<name>.gen.ts) as openapi-typescript makes them from
 * an API's OpenAPI document, and what is committed. With TM_UPDATE_API_TYPES=1 the committed file is
 * rewritten first (after a change of an API's DTOs: run the API's console-api-types spec so).
 */
export function consoleApiTypes(name: 'command-api' | 'resolver', document: unknown): { generated: string; committed: string; file: string } {
  const file = join(REPO_ROOT, 'apps', 'console', 'src', 'api', `${name}.gen.ts`);
  const dir = mkdtempSync(join(tmpdir(), 'tm-api-types-'));
  try {
    const input = join(dir, 'openapi.json');
    const output = join(dir, 'types.ts');
    writeFileSync(input, JSON.stringify(document));
    const cli = join(REPO_ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
    execFileSync(process.execPath, [cli, input, '-o', output], { stdio: 'pipe' });
    const generated = readFileSync(output, 'utf8');
    if (process.env['TM_UPDATE_API_TYPES'] === '1') writeFileSync(file, generated);
    return { generated, committed: readFileSync(file, 'utf8'), file };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
