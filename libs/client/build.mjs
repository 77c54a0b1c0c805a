// `nx build client`: bundles the SDK (ESM, CJS, declarations) and the `tm` CLI into dist/libs/client
// with tsup, internal libs (@tm/*) inlined, then adds the package's manifest, README and CHANGELOG.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const outDir = join(root, 'dist', 'libs', 'client');
const tsconfig = join(here, 'tsconfig.lib.json');
const common = {
  outDir,
  tsconfig,
  target: 'node20',
  platform: 'node',
  // Internal libs are bundled; the package has no runtime dependency.
  noExternal: [/^@tm\//],
  sourcemap: false,
  splitting: false,
  silent: true,
};

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
await build({ ...common, entry: { index: join(here, 'src', 'index.ts') }, format: ['esm', 'cjs'], dts: true });
await build({
  ...common,
  entry: { cli: join(here, 'src', 'cli', 'main.ts') },
  format: ['cjs'],
  dts: false,
  banner: { js: '#!/usr/bin/env node' },
});
for (const file of ['package.json', 'README.md', 'CHANGELOG.md']) copyFileSync(join(here, file), join(outDir, file));
process.stdout.write(`built ${outDir}\n`);
