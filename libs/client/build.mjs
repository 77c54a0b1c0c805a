// `nx build client`: bundles the SDK into dist/libs/client with tsup (internal libs, @tm/*, inlined):
// CommonJS (index.js) and its declarations (index.d.ts), then an ES module entry (index.mjs) that
// re-exports the CommonJS one, so that `import` and `require` share one copy of the SDK and one
// session context; then the package's manifest, README, CHANGELOG and LICENSE.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
// TM_DIST_DIR: another dist folder (the package tests build there, leaving the checkout's dist alone).
const outDir = join(process.env.TM_DIST_DIR || join(root, 'dist'), 'libs', 'client');

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
await build({
  entry: { index: join(here, 'src', 'index.ts') },
  format: ['cjs'],
  dts: true,
  outDir,
  tsconfig: join(here, 'tsconfig.lib.json'),
  target: 'node20',
  platform: 'node',
  // Internal libs are bundled; the package has no runtime dependency.
  noExternal: [/^@tm\//],
  sourcemap: false,
  splitting: false,
  silent: true,
});

// The ES module entry: every name the CommonJS module exports (read from it, not listed by hand).
const names = Object.keys(createRequire(import.meta.url)(join(outDir, 'index.js'))).sort();
if (names.length === 0 || names.some((n) => !/^[A-Za-z_$][\w$]*$/.test(n))) throw new Error(`unexpected exports: ${names.join(', ')}`);
const header = '// The CommonJS build, re-exported: one copy of the SDK (and of its session context) per process.\n';
writeFileSync(join(outDir, 'index.mjs'), `${header}import sdk from './index.js';\n\nexport const { ${names.join(', ')} } = sdk;\n`);
writeFileSync(join(outDir, 'index.d.mts'), `${header}export * from './index.js';\n`);

for (const file of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) copyFileSync(join(here, file), join(outDir, file));
process.stdout.write(`built ${outDir}\n`);
