// `nx build cli`: bundles the `tm` CLI into dist/libs/cli/cli.js with tsup (internal libs, @tm/*,
// inlined; the SDK, @traffic-manager/client, and the YAML parser, yaml, left dependencies of the
// package, installed beside it), then adds the
// package's manifest, README, CHANGELOG and LICENSE. So that the CLI also runs from dist in this
// repository, dist/libs/cli/node_modules/@traffic-manager/client/index.js links to the SDK's build
// (a file link, no package.json: npm pack leaves node_modules out, and dist holds one manifest per package).
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
// TM_DIST_DIR: another dist folder (the package tests build there, leaving the checkout's dist alone).
const outDir = join(process.env.TM_DIST_DIR || join(root, 'dist'), 'libs', 'cli');
const manifest = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
const sdkVersion = JSON.parse(readFileSync(join(root, 'libs', 'client', 'package.json'), 'utf8')).version;
if (manifest.dependencies['@traffic-manager/client'] !== sdkVersion) {
  throw new Error(`libs/cli/package.json depends on @traffic-manager/client ${manifest.dependencies['@traffic-manager/client']}, the SDK is ${sdkVersion}`);
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
await build({
  entry: { cli: join(here, 'src', 'main.ts') },
  format: ['cjs'],
  dts: false,
  outDir,
  tsconfig: join(here, 'tsconfig.lib.json'),
  target: 'node20',
  platform: 'node',
  // Every dependency of the package's manifest stays a require() (tsup would otherwise go by the root's).
  external: Object.keys(manifest.dependencies),
  noExternal: [/^@tm\//],
  define: { __TM_CLI_VERSION__: JSON.stringify(manifest.version) },
  banner: { js: '#!/usr/bin/env node' },
  sourcemap: false,
  splitting: false,
  silent: true,
});
chmodSync(join(outDir, 'cli.js'), 0o755);
for (const file of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) copyFileSync(join(here, file), join(outDir, file));
const link = join(outDir, 'node_modules', '@traffic-manager', 'client');
mkdirSync(link, { recursive: true });
symlinkSync(join('..', '..', '..', '..', 'client', 'index.js'), join(link, 'index.js'));
process.stdout.write(`built ${outDir}\n`);
