import { TrafficManagerClient, TrafficManagerError, type RouteBody, type Session } from '@traffic-manager/client';
import type { Op, ReadOp, WriteKind, WriteOp } from './history';
import { now, random, routeBody, type WorkloadTarget } from './workload';

export interface SdkClientOptions {
  /** The memory bound of every SDK client (maxStalenessMs): the resolvers' TTL, so G3 judges both alike. */
  maxStalenessMs: number;
  timeoutMs: number;
  writeShare: number;
  thinkMs: number;
  seed: number;
}

/**
 * A session that runs through the SDK (memory answers included) instead of raw HTTP. It holds one
 * TrafficManagerClient per tenant and resolver replica (keys are tenant-bound; each client has one
 * resolver), and every operation resumes the session from its token on the client of the key's
 * tenant and of its current replica: the token is handed between clients all the time, and the
 * replica changes every few operations. The checker reads the history as one session per `client`
 * (G5: never backwards, own writes seen), with the SDK's memory answers under G3 like the resolver's.
 */
export class SdkSession {
  private readonly clients = new Map<string, TrafficManagerClient>();
  private token: string | undefined;

  constructor(
    private readonly target: WorkloadTarget,
    private readonly options: SdkClientOptions,
    readonly client: number,
  ) {}

  private clientFor(key: string, resolver: number): TrafficManagerClient {
    const tenant = key.slice(0, key.indexOf('/'));
    const id = `${tenant}|${resolver}`;
    let c = this.clients.get(id);
    if (!c) {
      c = new TrafficManagerClient({
        resolverUrl: this.target.resolvers()[resolver] as string,
        commandUrl: this.target.commandApi,
        apiKey: this.target.tokenFor(key),
        maxStalenessMs: this.options.maxStalenessMs,
        timeoutMs: this.options.timeoutMs,
      });
      // Watch failures are expected under faults; the lookups report what matters.
      c.on('error', () => undefined);
      this.clients.set(id, c);
    }
    return c;
  }

  async run(history: Op[], stopped: () => boolean): Promise<void> {
    const rand = random(this.options.seed * 7_919 + this.client);
    const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)] as T;
    const known = new Map<string, number>();
    let resolver = 0;
    let seq = 0;
    while (!stopped()) {
      const key = pick(this.target.keys);
      if (rand() < 0.1) resolver = Math.floor(rand() * this.target.resolvers().length);
      const session = this.clientFor(key, resolver).session(this.token);
      let op: Op;
      if (rand() < this.options.writeShare) {
        const r = rand();
        let kind: WriteKind = r < 0.5 ? 'put' : r < 0.7 ? 'put-if-match' : r < 0.8 ? 'put-if-none-match' : 'delete';
        if (kind === 'put-if-match' && !known.has(key)) kind = 'put';
        op = await this.write(session, key, kind, kind === 'delete' ? null : `https://sdk${this.client}-${seq++}.consistency.test/`, known.get(key));
        if (op.revision !== undefined) {
          if (kind === 'delete') known.delete(key);
          else known.set(key, op.revision);
        }
      } else {
        op = await this.read(session, key, resolver);
        if (op.status === 200 && op.revision !== undefined) known.set(key, op.revision);
        if (op.status === 404) known.delete(key);
      }
      this.token = session.token;
      op.id = history.length;
      history.push(op);
      if (this.options.thinkMs > 0) await new Promise((r) => setTimeout(r, rand() * this.options.thinkMs));
    }
  }

  private async write(session: Session, key: string, kind: WriteKind, url: string | null, ifMatch: number | undefined): Promise<WriteOp> {
    const op: WriteOp = { id: -1, type: 'write', kind, client: this.client, key, url, start: now(), end: 0, status: null, sdk: true };
    if (kind === 'put-if-match') op.ifMatch = ifMatch;
    try {
      if (url === null) {
        const deleted = await session.delete(key);
        op.status = deleted ? 204 : 404;
        if (deleted) op.revision = session.revision;
      } else {
        // The same bodies as the HTTP clients' (every third a policy), so any read can be checked against its write.
        const written = await session.put(key, routeBody(url) as RouteBody, kind === 'put-if-match' ? { ifMatch } : kind === 'put-if-none-match' ? { ifNoneMatch: '*' } : {});
        op.status = written.created ? 201 : 200;
        op.revision = written.revision;
      }
    } catch (e) {
      failed(op, e);
    }
    op.end = now();
    return op;
  }

  private async read(session: Session, key: string, resolver: number): Promise<ReadOp> {
    const op: ReadOp = { id: -1, type: 'read', mode: 'min-revision', resolver, client: this.client, key, start: now(), end: 0, status: null, sdk: true };
    op.minRevision = session.revision;
    try {
      const answer = await session.resolve(key);
      op.end = now();
      if (answer) {
        op.status = 200;
        op.url = answer.url;
        op.revision = answer.revision;
        op.asOf = answer.asOf;
        op.cache = answer.source === 'stale' ? 'STALE' : `sdk-${answer.source}`;
      } else {
        // The SDK's null carries no as-of; the session observed it (never below its minimum).
        op.status = 404;
        op.url = null;
        op.asOf = session.revision;
        op.cache = 'sdk-null';
      }
    } catch (e) {
      op.end = now();
      failed(op, e);
    }
    return op;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
  }
}

function failed(op: Op, e: unknown): void {
  if (e instanceof TrafficManagerError) {
    op.status = e.status ?? null;
    op.error = e.code;
  } else op.error = e instanceof Error ? e.name : String(e);
}
