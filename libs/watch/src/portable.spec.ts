import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ts from 'typescript';

/**
 * libs/watch runs in a browser too (a console over `fetch` streaming): its source imports no Node
 * module and type-checks with the DOM's and the language's types alone, no @types/node (so no
 * Buffer, process or NodeJS.Timeout). The lint rule catches imports as they are written; this proves both.
 */
const root = join(__dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.ts$/.test(entry.name) && !/\.(spec|int-spec|e2e-spec|test-support)\.ts$/.test(entry.name) ? [path] : [];
  });
}

describe('libs/watch is portable', () => {
  it('imports nothing but itself and @tm/contracts', () => {
    const files = sources(join(root, 'src'));
    expect(files.length).toBeGreaterThan(3);
    for (const file of files) {
      const imports = [...readFileSync(file, 'utf8').matchAll(/\bfrom\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'|\brequire\s*\(\s*'([^']+)'/g)].map((m) => m[1] ?? m[2] ?? m[3]);
      const foreign = imports.filter((specifier) => specifier !== '@tm/contracts' && !(specifier?.startsWith('.') ?? false));
      expect({ file, foreign }).toEqual({ file, foreign: [] });
    }
  });

  it('type-checks with lib es2023 and dom and no @types/node (tsconfig.lib.json)', () => {
    const configPath = join(root, 'tsconfig.lib.json');
    const host: ts.ParseConfigFileHost = {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    };
    const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, host);
    if (!config) throw new Error('no tsconfig.lib.json');
    expect(config.options.types).toEqual([]);
    expect(config.options.lib).toEqual(['lib.es2023.d.ts', 'lib.dom.d.ts']);
    const program = ts.createProgram({ rootNames: config.fileNames, options: { ...config.options, noEmit: true } });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(diagnostics).toEqual([]);
    // The check has teeth: a Node global does not compile under it.
    const compiler = ts.createCompilerHost(config.options);
    const probe = join(root, 'src', '__probe__.ts');
    const readFile = compiler.readFile.bind(compiler);
    const fileExists = compiler.fileExists.bind(compiler);
    compiler.readFile = (name) => (name === probe ? 'export const size = Buffer.byteLength("x") + process.pid;' : readFile(name));
    compiler.fileExists = (name) => name === probe || fileExists(name);
    const bad = ts.createProgram({ rootNames: [probe], options: { ...config.options, noEmit: true }, host: compiler });
    const messages = ts.getPreEmitDiagnostics(bad).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(messages.some((m) => m.includes("Cannot find name 'Buffer'"))).toBe(true);
  });
});
