import { summarizeWatchers } from './watch-check';
import { describeOp, GUARANTEES, opLabel, type Guarantee } from './check';
import type { RunOutcome } from './run';

const WHAT: Record<Guarantee, string> = {
  G1: 'acknowledged writes committed with their outbox row; preconditions; strong reads see earlier writes',
  G2: 'one gap-free revision clock in commit order; answers are the state as of their revision',
  G3: 'no answer (but STALE) superseded for longer than the TTL; STALE only while PostgreSQL is down',
  G5: 'X-Min-Revision honoured; sessions never read backwards',
  G6: 'after the drain every cache entry and every resolver answer equals the database',
  G7: 'every outbox row published, on the topic, in revision order per key',
  G8: 'failures only where the degradation table allows them (no 500s)',
  A: 'change sets: all or nothing at one revision, a row per changed route; reads as of >= R see all of R, below R none; refused ones leave no trace',
  W: 'watch: exact snapshots; revisions whole, together, id on the last frame, in order, no gap or repeat; no bookmark ahead or inside one; caught up',
  R: 'a revoked key: no request accepted, no watch frame, once AUTH_CACHE_TTL_MS + 250 ms have passed (but while PostgreSQL is cut, if it was remembered)',
};

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 0 ? `-${'-'.repeat(w)}-` : `-${'-'.repeat(w - 1)}:`)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

const ms = (n: number) => (Number.isNaN(n) ? '-' : n < 10 ? n.toFixed(1) : String(Math.round(n)));

/** The run as Markdown tables: operations, violations, staleness, convergence. */
export function renderReport(run: RunOutcome): string {
  const { result, history, faults } = run;
  const out: string[] = [];
  // A loop, not Math.max(...ends): a long run's history overflows the call stack as arguments.
  const seconds = history.length ? (history.reduce((m, o) => Math.max(m, o.end), -Infinity) - run.startedAt) / 1000 : 0;
  const kafka = (run.kafkaBrokers ?? 1) > 1 ? `, Kafka ${run.kafkaBrokers} brokers (RF 3, min ISR 2)` : '';
  out.push(`## Consistency check: ${history.length} operations by ${run.clients} clients in ${seconds.toFixed(0)} s, ${faults.length} faults, TTL ${run.ttlSeconds} s, seed ${run.seed}${kafka}`);
  if (run.readsByTarget) {
    const reads = Object.entries(run.readsByTarget)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    out.push('', `With a PostgreSQL streaming replica; the resolvers' database reads by kind and target: ${reads || 'none reported'}.`);
  }

  const outcomes = ['2xx', '400', '401', '404', '412', '503', 'no answer', 'other'];
  const byKind = new Map<string, Map<string, number>>();
  const caches = new Map<string, Map<string, number>>();
  for (const op of history) {
    const label = opLabel(op);
    const s = op.status;
    const outcome = s === null ? 'no answer' : s >= 200 && s < 300 ? '2xx' : ['400', '401', '404', '412', '503'].includes(String(s)) ? String(s) : 'other';
    const row = byKind.get(label) ?? new Map<string, number>();
    byKind.set(label, row);
    row.set(outcome, (row.get(outcome) ?? 0) + 1);
    if (op.type === 'read' && op.cache) {
      const c = caches.get(label) ?? new Map<string, number>();
      caches.set(label, c);
      c.set(op.cache, (c.get(op.cache) ?? 0) + 1);
    }
  }
  out.push('', '### Operations by kind and outcome', '');
  out.push(
    table(
      ['operation', 'total', ...outcomes, 'X-Cache'],
      [...byKind.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([label, row]) => [
          label,
          [...row.values()].reduce((a, b) => a + b, 0),
          ...outcomes.map((o) => row.get(o) ?? 0),
          [...(caches.get(label)?.entries() ?? [])].map(([c, n]) => `${c} ${n}`).join(', '),
        ]),
    ),
  );
  out.push('', `Writes whose answer was lost (no answer or 5xx) but which committed: ${result.indeterminateCommitted}.`);

  out.push('', '### Violations by guarantee', '');
  out.push(table(['guarantee', 'checks', 'violations'], GUARANTEES.map((g) => [g, WHAT[g], result.violations.filter((v) => v.guarantee === g).length])));
  for (const g of GUARANTEES) {
    const found = result.violations.filter((v) => v.guarantee === g);
    if (found.length === 0) continue;
    out.push('', `${g}: first ${Math.min(5, found.length)} of ${found.length}`);
    for (const v of found.slice(0, 5)) {
      out.push(`- ${v.message}`);
      for (const op of v.ops) out.push(`    ${describeOp(op)}`);
    }
  }

  out.push('', '### Staleness of default-mode answers (how long the value returned had been superseded, ms)', '');
  const stale = (name: string, values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const superseded = sorted.filter((v) => v > 0).length;
    return [name, sorted.length, superseded, ms(percentile(sorted, 0.5)), ms(percentile(sorted, 0.99)), ms(sorted.at(-1) ?? NaN)];
  };
  out.push(
    table(
      ['period', 'answers', 'superseded', 'p50', 'p99', 'max'],
      [
        stale('no fault', result.staleness.calm),
        stale('fault or recovery', result.staleness.faults),
        stale('all', [...result.staleness.calm, ...result.staleness.faults]),
        ...(result.staleness.sdkMemory?.length ? [stale('SDK answers from memory (any period)', result.staleness.sdkMemory)] : []),
      ],
    ),
  );

  out.push('', '### Convergence after each fault: the last default-mode answer older than what had committed by the heal, ms after the heal', '');
  out.push(
    table(
      ['fault', 'at (s)', 'lasted (s)', 'last old answer (ms)'],
      result.convergence.map((c, i) => {
        const f = faults[i];
        return [c.fault, f ? ((f.start - run.startedAt) / 1000).toFixed(1) : '-', f ? ((f.healed - f.start) / 1000).toFixed(1) : '-', c.ms === null ? 'not within the run' : ms(c.ms)];
      }),
    ),
  );
  const revocations = result.revocations ?? [];
  if (revocations.length > 0) {
    out.push('', `### Revocations (ms after the DELETE's answer; AUTH_CACHE_TTL_MS ${run.authCacheTtlMs ?? '-'})`, '');
    const at = (n: number | null) => (n === null ? '-' : ms(n));
    out.push(
      table(
        ['key', 'at (s)', 'first refusal', 'last request accepted', 'last watch frame', 'open streams ended', 'refused (401, 403) after the bound'],
        revocations.map((r) => [r.credential, ((r.revokedAt - run.startedAt) / 1000).toFixed(1), at(r.firstRefused), at(r.lastAccepted), at(r.lastFrame), at(r.streamsEnded), `${r.refused} of ${r.after}`]),
      ),
    );
  }
  const watchers = summarizeWatchers(run.final.watchers ?? []);
  if (watchers.length > 0) {
    out.push('', '### Watch streams (each resumes on the next replica with Last-Event-ID)', '');
    out.push(
      table(
        ['watcher', 'connections', 'snapshots', 'changes', 'bookmarks', '410', 'refused', 'last bookmark'],
        watchers.map((w) => [w.watcher, w.connections, w.snapshots, w.changes, w.bookmarks, w.compacted, w.refused || '-', w.lastBookmark]),
      ),
    );
  }
  out.push('', `Drained ${run.final.outbox.length} outbox rows and ${run.final.topic.length} topic messages in ${run.final.drainMs} ms after the clients stopped.`);
  out.push('', result.violations.length === 0 ? 'No violations.' : `${result.violations.length} violations.`);
  return out.join('\n');
}
