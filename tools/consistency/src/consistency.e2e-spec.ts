import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_FAULTS } from './lib/history';
import { renderReport } from './lib/report';
import { runConsistencyCheck, SHORT_RUN } from './lib/run';

// The short run of `npm run check:consistency`: the real system as processes, concurrent clients,
// every fault at least once, then the history checked against G1-G8. Zero violations is the bar.
describe('consistency under faults (short run)', () => {
  it('records a history with every fault and finds no violation', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'tm-consistency-'));
    const seed = Math.floor(Math.random() * 1e9) + 1;
    const run = await runConsistencyCheck({ ...SHORT_RUN, seed, outDir, log: () => undefined });
    const report = renderReport(run);
    if (run.result.violations.length > 0) {
      // Kept for the post-mortem: the history and the report.
      process.stderr.write(`${report}\n\nHistory kept in ${outDir} (seed ${seed})\n`);
    } else {
      rmSync(outDir, { recursive: true, force: true });
    }
    expect(run.faults.map((f) => f.fault).sort()).toEqual(expect.arrayContaining([...ALL_FAULTS].sort()));
    const kinds = new Set(run.history.filter((o) => o.status !== null && o.status < 300).map((o) => (o.type === 'write' ? o.kind : o.mode)));
    expect([...kinds].sort()).toEqual(['default', 'delete', 'min-revision', 'put', 'put-if-match', 'put-if-none-match', 'strong']);
    expect(run.final.outbox.length).toBeGreaterThan(100);
    // The first few only: jest's diff of thousands of violations would take longer than the run.
    expect(run.result.violations.slice(0, 20).map((v) => `${v.guarantee}: ${v.message}`)).toEqual([]);
  }, 600_000);
});
