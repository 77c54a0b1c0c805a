// Renders a bench run's results again with the report of this checkout (report.cjs is pure): what
// the report derives from the measurements (the soak's verdicts, the goals) is derived again, and
// results.{json,md,svg} are written beside the input; with --latest, tools/bench/results/latest.* too.
//   node tools/bench/render.mjs tools/bench/results/raw/<time>/results.json [--latest] [--note "why"]
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { evaluateGoals, memoryTrend, renderMarkdown, renderSvg } from './report.cjs';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { latest: { type: 'boolean', default: false }, note: { type: 'string' } } });
if (positionals.length !== 1) {
  process.stderr.write('usage: node tools/bench/render.mjs <results.json> [--latest] [--note "why"]\n');
  process.exit(2);
}
const input = positionals[0];
const results = JSON.parse(readFileSync(input, 'utf8'));
if (results.watchSoak) {
  results.watchSoak.memory = memoryTrend(results.watchSoak.samples);
  results.watchSoak.heap = memoryTrend(results.watchSoak.samples, 'heapBytes');
}
results.goals = evaluateGoals(results);
if (values.note) {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short=10', 'HEAD'], { cwd: import.meta.dirname, encoding: 'utf8' }).trim();
  } catch {
    // not a checkout
  }
  results.warnings = [...(results.warnings ?? []), `Rendered again on ${new Date().toISOString().slice(0, 10)} with the report of commit ${commit}: ${values.note}`];
}
const files = { json: `${JSON.stringify(results, null, 2)}\n`, md: renderMarkdown(results), svg: renderSvg(results) };
const folders = [dirname(input), ...(values.latest ? [join(import.meta.dirname, 'results')] : [])];
for (const folder of folders) {
  for (const [ext, content] of Object.entries(files)) writeFileSync(join(folder, `${folder === dirname(input) ? 'results' : 'latest'}.${ext}`), content);
}
process.stdout.write(files.md);
