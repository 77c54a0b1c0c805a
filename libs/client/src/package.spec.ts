import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { filesOf, packagesAndNodes, repoBin, runCommand, type NodeBinary, type PackedPackages } from '@tm/testing';
import { FakeServer, openStream } from './lib/fake-server.test-support';

/**
 * The SDK as users get it: built, packed, checked by @arethetypeswrong/cli and publint (no finding),
 * installed into an empty project; loaded by require and by import (one copy, one session context);
 * a process that never calls close() still exits. On the oldest Node its engines allow and this one.
 */
let packed: PackedPackages;
let nodes: NodeBinary[];

beforeAll(async () => {
  ({ packed, nodes } = await packagesAndNodes());
}, 600_000);

afterAll(() => packed?.remove());

const installed = (): string => join(packed.project, 'node_modules', '@traffic-manager', 'client');

describe('the @traffic-manager/client package', () => {
  it('is clean for @arethetypeswrong/cli and publint', async () => {
    const attw = await runCommand(repoBin('attw'), [packed.client, '--format', 'json'], { timeoutMs: 120_000 });
    const report = JSON.parse(attw.stdout) as { problems?: unknown; analysis: { problems?: unknown[]; types: unknown } };
    expect({ code: attw.code, problems: report.problems, analysed: report.analysis.problems, types: report.analysis.types }).toEqual({
      code: 0,
      problems: {},
      analysed: [],
      types: { kind: 'included' },
    });
    const publint = await runCommand(repoBin('publint'), ['run', packed.client, '--strict'], { timeoutMs: 120_000 });
    expect(publint).toMatchObject({ code: 0 });
    expect(publint.stdout).toContain('All good!');
  });

  it('has its manifest: 0.2.0, commonjs, engines, exports, licence, no bin, no dependency; only its own files', () => {
    const manifest = JSON.parse(readFileSync(join(installed(), 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      name: '@traffic-manager/client',
      version: '0.2.0',
      type: 'commonjs',
      license: 'UNLICENSED',
      engines: { node: '>=20' },
      sideEffects: false,
      exports: { '.': { import: { types: './index.d.mts', default: './index.mjs' }, require: { types: './index.d.ts', default: './index.js' } } },
    });
    expect(manifest['bin']).toBeUndefined();
    expect(manifest['dependencies'] ?? {}).toEqual({});
    expect(filesOf(installed())).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'index.d.mts', 'index.d.ts', 'index.js', 'index.mjs', 'package.json']);
    // The internal libs are bundled in.
    expect(readFileSync(join(installed(), 'index.d.ts'), 'utf8')).not.toContain('@tm/');
    expect(readFileSync(join(installed(), 'CHANGELOG.md'), 'utf8')).toContain('## 0.2.0 (2026-12-06)');
    expect(readFileSync(join(installed(), 'LICENSE'), 'utf8')).toContain('All rights reserved');
  });

  it('require() and import give the same names and the same objects: one copy, one session context', async () => {
    const names = 'Session,TrafficManagerClient,TrafficManagerError,trafficManagerMiddleware';
    // The middleware loaded by require sets the session; code loaded by import sees it, and the other way round.
    const script = [
      "import { createRequire } from 'node:module';",
      "import * as esm from '@traffic-manager/client';",
      'const cjs = createRequire(import.meta.url)("@traffic-manager/client");',
      "const same = Object.keys(esm).every((k) => esm[k] === cjs[k]) && Object.keys(esm).sort().join() === Object.keys(cjs).sort().join();",
      "const tm = new cjs.TrafficManagerClient({ resolverUrl: 'http://127.0.0.1:9', watch: false });",
      "const seen = await new Promise((resolve) => esm.trafficManagerMiddleware(tm)({ headers: { 'x-min-revision': '42' } }, {}, () => resolve(tm.currentSession())));",
      'console.log(Object.keys(esm).sort().join(), same, seen instanceof esm.Session, seen instanceof cjs.Session, seen.revision);',
    ].join('\n');
    for (const node of nodes) {
      const ran = await runCommand(node.path, ['--input-type=module', '-e', script], { cwd: packed.project });
      // JSON-quoted, so that a difference jest's diff cannot show (a control character, a space) is seen.
      expect({ node: node.version, ...ran, stdout: JSON.stringify(ran.stdout) }).toEqual({
        node: node.version,
        code: 0,
        signal: null,
        stdout: JSON.stringify(`${names} true true true 42\n`),
        stderr: '',
      });
    }
  });

  it('a process that resolves once with an open watch and never calls close() exits by itself', async () => {
    const server = await FakeServer.start();
    try {
      // The watch stays open, with a bookmark every 100 ms: only the SDK's unref() lets the process end.
      server.on('/v1/watch/acme', (_req, res) => {
        const stream = openStream(res, 100).snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5);
        const beat = setInterval(() => stream.bookmark(5), 100);
        res.on('close', () => clearInterval(beat));
      });
      const script = [
        "const { TrafficManagerClient } = require('@traffic-manager/client');",
        `const tm = new TrafficManagerClient({ resolverUrl: ${JSON.stringify(server.url)}, staleIfErrorMs: 1000 });`,
        "tm.resolve('acme/api/prod').then((r) => console.log(r.source, r.url));",
      ].join('\n');
      for (const node of nodes) {
        const ran = await runCommand(node.path, ['-e', script], { cwd: packed.project, timeoutMs: 15_000 });
        expect({ node: node.version, ...ran }).toEqual({ node: node.version, code: 0, signal: null, stdout: 'memory https://a.example\n', stderr: '' });
      }
      expect(server.requests('/v1/watch/acme').length).toBeGreaterThanOrEqual(nodes.length);
    } finally {
      await server.close();
    }
  });
});
