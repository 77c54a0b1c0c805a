import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FaultWindow, FinalCacheEntry, FinalRoute, FinalState, Op } from './history';

/**
 * A run on disk, to read or check again later (`--recheck <dir>`): history.jsonl (the faults, then
 * every operation in the order they started) and final.json (the state after the drain).
 */
export interface SavedRun {
  history: Op[];
  faults: FaultWindow[];
  final: FinalState;
  ttlSeconds: number;
  /** The resolvers' AUTH_CACHE_TTL_MS (absent in runs saved before the revoke fault: they ran with the default). */
  authCacheTtlMs?: number;
  clients: number;
  seed: number;
  startedAt: number;
  /** Kafka brokers of the run (absent in runs saved before the flag: 1). */
  kafkaBrokers?: number;
  /** With a PostgreSQL replica (`--replica`): the resolvers' database reads by `kind:target` at the end of the run. */
  readsByTarget?: Record<string, number>;
}

export async function saveRun(dir: string, run: SavedRun): Promise<void> {
  const out = createWriteStream(join(dir, 'history.jsonl'));
  for (const f of run.faults) out.write(`${JSON.stringify({ type: 'fault', ...f })}\n`);
  for (const op of [...run.history].sort((a, b) => a.start - b.start)) out.write(`${JSON.stringify(op)}\n`);
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  const { final, history: _history, faults: _faults, ...meta } = run;
  const state = { ...final, routes: [...final.routes.entries()], cache: [...final.cache.entries()] };
  await writeFile(join(dir, 'final.json'), JSON.stringify({ ...meta, final: state }));
}

export async function loadRun(dir: string): Promise<SavedRun> {
  const lines = (await readFile(join(dir, 'history.jsonl'), 'utf8')).split('\n').filter(Boolean);
  const faults: FaultWindow[] = [];
  const history: Op[] = [];
  for (const line of lines) {
    const record = JSON.parse(line) as (FaultWindow & { type: 'fault' }) | Op;
    if (record.type === 'fault') {
      const { type: _type, ...fault } = record;
      faults.push(fault);
    } else history.push(record);
  }
  const saved = JSON.parse(await readFile(join(dir, 'final.json'), 'utf8')) as Omit<SavedRun, 'history' | 'faults' | 'final'> & {
    final: Omit<FinalState, 'routes' | 'cache'> & { routes: [string, FinalRoute][]; cache: [string, FinalCacheEntry | 'unparsable'][] };
  };
  const final: FinalState = { ...saved.final, routes: new Map(saved.final.routes), cache: new Map(saved.final.cache) };
  return { ...saved, history, faults, final };
}
