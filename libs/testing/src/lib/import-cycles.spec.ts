import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as ts from 'typescript';
import { REPO_ROOT } from './env';

/**
 * No import circles among the repository's TypeScript modules, type-only imports included. The lint
 * rule (import-x/no-cycle) fails on a circle that exists at run time, and skips `import type`: a
 * circle closed by a type-only import (as route-cache's scripts -> health-store -> redis.module ->
 * scripts was) still ties the modules together, so this check reads every import.
 */
const ROOTS = ['apps', 'libs', 'migrations', 'e2e', 'tools/consistency/src', 'tools/docs-check/src'];

function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, out);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function importGraph(): Map<string, string[]> {
  const { config } = ts.readConfigFile(join(REPO_ROOT, 'tsconfig.base.json'), ts.sys.readFile);
  const options = ts.parseJsonConfigFileContent(config, ts.sys, REPO_ROOT).options;
  const graph = new Map<string, string[]>();
  const files = ROOTS.flatMap((root) => sources(join(REPO_ROOT, root)));
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map(({ fileName }) => ts.resolveModuleName(fileName, file, options, ts.sys).resolvedModule)
      .filter((m): m is ts.ResolvedModuleFull => m !== undefined && !m.isExternalLibraryImport && !m.resolvedFileName.endsWith('.d.ts'))
      .map((m) => m.resolvedFileName);
    graph.set(file, targets);
  }
  return graph;
}

/** The circles of `graph` (its strongly connected components of more than one module, or a module importing itself). */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, indices.get(w) as number));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
        onStack.delete(w);
        component.push(w);
      }
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.map((f) => relative(REPO_ROOT, f)).sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found;
}

describe('import circles', () => {
  const graph = importGraph();

  it('reads type-only imports too (route-cache: health-store imports the client type of redis.module)', () => {
    const store = join(REPO_ROOT, 'libs/route-cache/src/lib/health-store.ts');
    expect(readFileSync(store, 'utf8')).toMatch(/^import type \{[^}]*\bRedisClient\b[^}]*\} from '\.\/redis\.module';$/m);
    expect(graph.get(store)).toContain(join(REPO_ROOT, 'libs/route-cache/src/lib/redis.module.ts'));
  });

  it('finds a circle, and only the modules in it', () => {
    const sample = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts', 'd.ts']],
      ['e.ts', ['a.ts']],
    ]);
    expect(circles(sample).map((c) => c.map((f) => f.split('/').pop()))).toEqual([['a.ts', 'b.ts', 'c.ts'], ['d.ts']]);
  });

  it('there is none among the modules of apps, libs, migrations, e2e and the tools', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(circles(graph)).toEqual([]);
  });
});
