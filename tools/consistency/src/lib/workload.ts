import { Headers as H, seededRandom } from '@tm/contracts';
import { now } from './clock';
import type { ChangeSetOp, Op, ReadMode, ReadOp, SetChange, SetConflict, WriteKind, WriteOp } from './history';

/** ms since the epoch, sub-millisecond (./clock). */
export { now };

/** A small seeded generator (mulberry32), so a run's choices can be replayed with --seed. */
export const random = seededRandom;

export interface WorkloadTarget {
  commandApi: string;
  /** The resolver replicas' base URLs (a replica may be down for a while). */
  resolvers: () => string[];
  /** The bearer key a client uses for a route key: a stored key of its tenant, as real clients hold. */
  tokenFor: (key: string) => string;
  keys: string[];
  /** A `routes:write` key that spans tenants, for change sets across them; absent: no change sets. */
  setToken?: string;
}

export interface WorkloadOptions {
  clients: number;
  /** Share of operations that are writes. */
  writeShare: number;
  /** Share of operations that are change sets (POST /v1/changes of 2 to 10 routes), taken before the writes' share. */
  setShare?: number;
  /** Pause between two operations of a client, ms (uniform in [0, thinkMs]). */
  thinkMs: number;
  timeoutMs: number;
  seed: number;
}

function header(res: Response, name: string): number | undefined {
  const value = res.headers.get(name);
  return value === null || value === '' ? undefined : Number(value);
}

/** Concurrent clients, each a session running one operation at a time, recording every one. */
export class Workload {
  readonly history: Op[] = [];
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly target: WorkloadTarget,
    private readonly options: WorkloadOptions,
  ) {}

  start(): void {
    this.running = Promise.all(Array.from({ length: this.options.clients }, (_, i) => this.client(i))).then(() => undefined);
  }

  /** Lets every client finish its operation in flight, then returns. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async client(client: number): Promise<void> {
    const rand = random(this.options.seed * 7_919 + client);
    const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)] as T;
    let highest = 0;
    const known = new Map<string, number>();
    let seq = 0;
    // What the client last saw of each route: its revision, or null when absent (the change sets' compares).
    const seen = new Map<string, number | null>();
    const observe = (op: Op) => {
      if (op.type === 'changeset') {
        if (op.revision !== undefined) highest = Math.max(highest, op.revision);
        for (const c of op.changes) {
          if (c.revision === undefined) continue;
          if (c.revision === null) known.delete(c.key);
          else known.set(c.key, c.revision);
          seen.set(c.key, c.revision);
        }
        return;
      }
      const key = op.key;
      if (op.type === 'write' && op.revision !== undefined) {
        highest = Math.max(highest, op.revision);
        if (op.kind === 'delete') known.delete(key);
        else known.set(key, op.revision);
        seen.set(key, op.kind === 'delete' ? null : op.revision);
      }
      if (op.type === 'read') {
        if (op.asOf !== undefined) highest = Math.max(highest, op.asOf);
        if (op.status === 200 && op.revision !== undefined) known.set(key, op.revision);
        if (op.status === 404) known.delete(key);
        if (op.status === 200 && op.revision !== undefined) seen.set(key, op.revision);
        if (op.status === 404) seen.set(key, null);
      }
    };
    while (!this.stopped) {
      const key = pick(this.target.keys);
      let op: Op;
      const setToken = this.target.setToken;
      if (setToken !== undefined && rand() < (this.options.setShare ?? 0)) {
        const changes = planChangeSet(rand, this.target.keys, seen, () => `https://c${client}-${seq++}.consistency.test/`);
        op = await changeSetOnce(this.target.commandApi, setToken, this.options.timeoutMs, client, changes);
      } else if (rand() < this.options.writeShare) {
        const r = rand();
        const kind: WriteKind = r < 0.45 ? 'put' : r < 0.7 ? 'put-if-match' : r < 0.8 ? 'put-if-none-match' : 'delete';
        const url = kind === 'delete' ? null : `https://c${client}-${seq++}.consistency.test/`;
        op = await writeOnce(this.target, this.options.timeoutMs, client, key, kind === 'put-if-match' && !known.has(key) ? 'put' : kind, url, known.get(key));
      } else {
        const r = rand();
        const mode: ReadMode = r < 0.5 ? 'default' : r < 0.8 ? 'min-revision' : 'strong';
        const resolvers = this.target.resolvers();
        const resolver = Math.floor(rand() * resolvers.length);
        op = await readOnce(this.target.tokenFor(key), this.options.timeoutMs, { client, key, mode, resolver, base: resolvers[resolver] as string, minRevision: mode === 'min-revision' ? highest : undefined });
      }
      op.id = this.history.length;
      this.history.push(op);
      observe(op);
      if (this.options.thinkMs > 0) await new Promise((r) => setTimeout(r, rand() * this.options.thinkMs));
    }
  }
}

/**
 * The body that sets `url`: every third write a traffic policy whose first choice (and the
 * resolver's only candidate, with no health check) is `url`, with a standby and a disabled endpoint
 * beside it, so that policies go through the whole pipeline (the outbox, Kafka, the cache, the watch).
 */
export function routeBody(url: string): unknown {
  if (fnv(url) % 3 !== 0) return { url };
  return {
    endpoints: [
      { id: 'primary', url, priority: 1, weight: 2 },
      { id: 'standby', url: `${url}standby/`, priority: 2, weight: 0 },
      { id: 'off', url: `${url}off/`, state: 'disabled' },
    ],
  };
}

function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * The URL a resolve answer stands for: its `url` when its endpoints are the ones routeBody gave it,
 * else a value no write ever wrote (the checker then flags the read), so that a policy torn from
 * its URL (an endpoint list of another write) cannot pass.
 */
function answeredUrl(body: { url?: string; endpoints?: { url: string }[] } | undefined): string | null {
  const url = body?.url;
  if (url === undefined) return null;
  const got = (body?.endpoints ?? []).map((e) => e.url);
  const written = routeBody(url) as { endpoints?: { url: string }[] };
  const expected = written.endpoints ? written.endpoints.map((e) => e.url) : [url];
  return got.length === expected.length && got.every((u, i) => u === expected[i]) ? url : `torn:${url}:${got.join(',')}`;
}

/** One PUT or DELETE through the command API. */
export async function writeOnce(
  target: WorkloadTarget,
  timeoutMs: number,
  client: number,
  key: string,
  kind: WriteKind,
  url: string | null,
  ifMatch: number | undefined,
): Promise<WriteOp> {
  const headers: Record<string, string> = { authorization: `Bearer ${target.tokenFor(key)}` };
  if (url !== null) headers['content-type'] = 'application/json';
  if (kind === 'put-if-match') headers['if-match'] = `"${ifMatch}"`;
  if (kind === 'put-if-none-match') headers['if-none-match'] = '*';
  const op: WriteOp = { id: -1, type: 'write', kind, client, key, url, start: now(), end: 0, status: null };
  if (kind === 'put-if-match') op.ifMatch = ifMatch;
  try {
    const res = await fetch(`${target.commandApi}/v1/routes/${key}`, {
      method: url === null ? 'DELETE' : 'PUT',
      headers,
      body: url === null ? undefined : JSON.stringify(routeBody(url)),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    op.end = now();
    op.status = res.status;
    const revision = header(res, H.routeRevision);
    if (revision !== undefined) op.revision = revision;
  } catch (e) {
    op.end = now();
    op.error = errorName(e);
  }
  return op;
}

/**
 * A change set of 2 to 10 distinct routes (as many as there are): puts (70 %) and deletes; in half
 * the sets each change has, one time in three, a compare taken from what the client last saw of the
 * route (`ifRevision` of the revision it saw, `ifAbsent` when it saw it absent), so that some fail (412). One set in twenty
 * carries a put whose URL is none (400): nothing of it may show either.
 */
export function planChangeSet(rand: () => number, keys: string[], seen: ReadonlyMap<string, number | null>, nextUrl: () => string): SetChange[] {
  const size = Math.min(keys.length, 2 + Math.floor(rand() * 9));
  const shuffled = [...keys].sort(() => rand() - 0.5).slice(0, size);
  const invalidAt = rand() < 0.05 ? Math.floor(rand() * size) : -1;
  // Half the sets compare (else most would be refused: their routes move under them).
  const compares = rand() < 0.5;
  return shuffled.map((key, i): SetChange => {
    const change: SetChange = rand() < 0.7 || i === invalidAt ? { key, op: 'put', url: nextUrl() } : { key, op: 'delete', url: null };
    if (i === invalidAt) change.invalid = true;
    const last = seen.get(key);
    if (compares && last !== undefined && rand() < 1 / 3) {
      if (last !== null) change.ifRevision = last;
      else if (change.op === 'put') change.ifAbsent = true;
    }
    return change;
  });
}

/** One POST /v1/changes; its answer's revision and per-route results (2xx), or its conflicts (412). */
export async function changeSetOnce(commandApi: string, token: string, timeoutMs: number, client: number, changes: SetChange[]): Promise<ChangeSetOp> {
  const op: ChangeSetOp = { id: -1, type: 'changeset', client, changes, start: now(), end: 0, status: null };
  const body = {
    description: `consistency client ${client}`,
    changes: changes.map((c) => ({
      op: c.op,
      route: c.key,
      ...(c.url === null ? {} : { body: c.invalid ? { url: 'not a url' } : routeBody(c.url) }),
      ...(c.ifRevision === undefined ? {} : { ifRevision: c.ifRevision }),
      ...(c.ifAbsent ? { ifAbsent: true } : {}),
    })),
  };
  try {
    const res = await fetch(`${commandApi}/v1/changes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const answer = (await res.json().catch(() => undefined)) as
      | { revision?: number; changes?: { route: string; result: SetChange['result']; revision: number | null }[]; conflicts?: SetConflict[] }
      | undefined;
    op.end = now();
    op.status = res.status;
    if (res.status >= 200 && res.status < 300 && answer) {
      if (answer.revision !== undefined) op.revision = answer.revision;
      // In the order of the request.
      answer.changes?.forEach((outcome, i) => {
        const change = changes[i];
        if (!change || change.key !== outcome.route) return;
        change.result = outcome.result;
        change.revision = outcome.revision;
      });
    }
    if (res.status === 412 && answer?.conflicts) op.conflicts = answer.conflicts;
  } catch (e) {
    op.end = now();
    op.error = errorName(e);
  }
  return op;
}

/** One GET through a resolver. */
export async function readOnce(
  token: string,
  timeoutMs: number,
  r: { client: number; key: string; mode: ReadMode; resolver: number; base: string; minRevision: number | undefined },
): Promise<ReadOp> {
  const { client, key, mode, resolver, base, minRevision } = r;
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (minRevision !== undefined) headers[H.minRevision] = String(minRevision);
  const op: ReadOp = { id: -1, type: 'read', mode, resolver, client, key, start: now(), end: 0, status: null };
  if (minRevision !== undefined) op.minRevision = minRevision;
  try {
    const res = await fetch(`${base}/v1/resolve/${key}${mode === 'strong' ? '?consistency=strong' : ''}`, {
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json().catch(() => undefined)) as { url?: string; endpoints?: { url: string }[] } | undefined;
    op.end = now();
    op.status = res.status;
    op.asOf = header(res, H.consistencyRevision);
    op.cache = res.headers.get(H.cache) ?? undefined;
    if (res.status === 200) {
      op.url = answeredUrl(body);
      op.revision = header(res, H.routeRevision);
    } else if (res.status === 404) op.url = null;
  } catch (e) {
    op.end = now();
    op.error = errorName(e);
  }
  return op;
}

function errorName(e: unknown): string {
  const cause = (e as { cause?: { code?: string } }).cause;
  return cause?.code ?? (e instanceof Error ? e.name : String(e));
}

/** One default-mode read of every key through one resolver (after quiescence). */
export async function readAll(target: WorkloadTarget, resolver: number, base: string): Promise<ReadOp[]> {
  const out: ReadOp[] = [];
  for (const key of target.keys) out.push(await readOnce(target.tokenFor(key), 10_000, { client: -1, key, mode: 'default', resolver, base, minRevision: undefined }));
  return out;
}
