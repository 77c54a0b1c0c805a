import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const MODULE = join(__dirname, '..', '..', 'tools', 'stack', 'log-format.mjs');

/** Runs a snippet against npm start's log renderer (an ES module) and gives what it printed. */
function run(snippet: string, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', `import * as m from ${JSON.stringify(MODULE)};\n${snippet}`], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

describe("npm start's log lines", () => {
  it('renders JSON lines readably for a terminal and passes other lines through', () => {
    const line = JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 1, 12, 0, 0), app: 'resolver', pid: 7, hostname: 'h', context: 'Watch', msg: 'feed down' });
    const out = run(`const r = await m.lineRenderer('pretty', { colorize: false });
      console.log(r(${JSON.stringify(line)}));
      console.log(r('plain text {'));
      console.log(r('{not json'));`);
    const [pretty, plain, broken] = out.trimEnd().split('\n');
    expect(pretty).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: feed down \{"context":"Watch"\}$/);
    expect(plain).toBe('plain text {');
    expect(broken).toBe('{not json');
  });

  it('keeps JSON when not on a terminal or with LOG_FORMAT=json, and refuses an unknown format', () => {
    const out = run(`console.log(m.logFormat({}, true), m.logFormat({}, false), m.logFormat({ LOG_FORMAT: 'json' }, true), m.logFormat({ LOG_FORMAT: 'pretty' }, false));
      const same = await m.lineRenderer('json');
      console.log(same('{"level":30}'));
      try { m.logFormat({ LOG_FORMAT: 'yaml' }, true); } catch (e) { console.log(e.message); }`);
    expect(out.trimEnd().split('\n')).toEqual(['pretty json json pretty', '{"level":30}', 'LOG_FORMAT must be json or pretty, not "yaml"']);
  });
});
