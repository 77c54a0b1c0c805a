import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROBLEM_TYPE_PREFIX, routeEvent, type HealthCheck, type PolicyEndpoint, type WatchBookmark } from '@tm/contracts';

/**
 * A small local server that speaks the contract's HTTP and SSE exactly, driven by the test: each
 * request goes to the handler the test sets; helpers write watch events and resolver answers.
 */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  at: number;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class FakeServer {
  readonly seen: Seen[] = [];
  private readonly handlers: { prefix: string; handler: Handler }[] = [];
  private readonly open = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeServer> {
    const holder: { fake?: FakeServer } = {};
    const server = createServer((req, res) => holder.fake?.dispatch(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    holder.fake = new FakeServer(server, `http://127.0.0.1:${port}`);
    return holder.fake;
  }

  /** Requests whose path starts with `prefix` go to `handler` (the latest matching registration wins). */
  on(prefix: string, handler: Handler): this {
    this.handlers.unshift({ prefix, handler });
    return this;
  }

  requests(prefix: string): Seen[] {
    return this.seen.filter((s) => s.url.startsWith(prefix));
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    this.seen.push({ method: req.method ?? 'GET', url, headers: req.headers, at: performance.now() });
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
    const found = this.handlers.find((h) => url.startsWith(h.prefix));
    if (!found) {
      problem(res, 404, 'Not Found', `no handler for ${url}`);
      return;
    }
    found.handler(req, res);
  }

  /** Ends every open stream (as a restarting server would). */
  dropStreams(): void {
    for (const res of this.open) res.destroy();
    this.open.clear();
  }

  async close(): Promise<void> {
    this.dropStreams();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A problem+json answer as the servers send it: one with a `code` in `extra` carries it in `type` too. */
export function problem(res: ServerResponse, status: number, title: string, detail: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  const type = typeof extra['code'] === 'string' ? `${PROBLEM_TYPE_PREFIX}${extra['code']}` : 'about:blank';
  const body = JSON.stringify({ type, title, status, detail, ...extra });
  res.writeHead(status, { 'content-type': 'application/problem+json', 'x-request-id': 'r1', ...headers });
  res.end(body);
}

/** A request's JSON body (undefined when empty). */
export function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString('utf8')));
    req.on('end', () => resolve(text === '' ? undefined : JSON.parse(text)));
  });
}

/** A JSON answer. */
export function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Opens an SSE stream as the resolver's watch does. */
export function openStream(res: ServerResponse, bookmarkIntervalMs = 5000): SseWriter {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    'x-watch-bookmark-interval-ms': String(bookmarkIntervalMs),
  });
  res.flushHeaders();
  return new SseWriter(res);
}

export class SseWriter {
  constructor(readonly res: ServerResponse) {}

  /** A route's put: `id` absent in a snapshot. */
  put(route: string, url: string, revision: number, id?: number): this {
    return this.change('put', route, url, revision, id ?? null);
  }

  delete(route: string, revision: number): this {
    return this.change('delete', route, null, revision, revision);
  }

  /** A route's put with a traffic policy (its `url` the first endpoint's): `id` absent in a snapshot. */
  policy(route: string, endpoints: PolicyEndpoint[], healthCheck: HealthCheck | null, revision: number, id?: number): this {
    const [tenant, service, environment] = route.split('/') as [string, string, string];
    const event = routeEvent(`e${revision}`, new Date(), { tenant, service, environment, url: endpoints[0]?.url ?? null, revision, endpoints, healthCheck });
    this.res.write(`event: put\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(event)}\n\n`);
    return this;
  }

  /** An `event: health` frame (no id), as `?health=true` sends it (`since` null: as an older server sent an unknown). */
  health(route: string, endpoint: string, health: 'healthy' | 'unhealthy' | 'unknown', healthRevision: number, since: Date | null = new Date()): this {
    const [tenant, service, environment] = route.split('/') as [string, string, string];
    const data = { tenant, service, environment, endpoint, healthRevision, health, since: since?.toISOString() ?? null };
    this.res.write(`event: health\ndata: ${JSON.stringify(data)}\n\n`);
    return this;
  }

  bookmark(revision: number, options: { ageMs?: number; snapshot?: boolean } = {}): this {
    const data: WatchBookmark = { revision, knownCurrentAt: new Date().toISOString(), ageMs: options.ageMs ?? 0, snapshot: options.snapshot ?? false };
    this.res.write(`event: bookmark\nid: ${revision}\ndata: ${JSON.stringify(data)}\n\n`);
    return this;
  }

  /** A snapshot: one put per route without id, then its bookmark. */
  snapshot(routes: Record<string, [string, number]>, revision: number, ageMs = 0): this {
    for (const [route, [url, rev]] of Object.entries(routes)) this.put(route, url, rev);
    return this.bookmark(revision, { snapshot: true, ageMs });
  }

  private change(kind: 'put' | 'delete', route: string, url: string | null, revision: number, id: number | null): this {
    const [tenant, service, environment] = route.split('/') as [string, string, string];
    const event = routeEvent(`e${revision}`, new Date(), { tenant, service, environment, url, revision });
    this.res.write(`event: ${kind}\n${id === null ? '' : `id: ${id}\n`}data: ${JSON.stringify(event)}\n\n`);
    return this;
  }
}

/** The resolver's 200 answer with its headers (`extra`: failOpen and endpoints, as a resolver of traffic policies adds them). */
export function resolved(res: ServerResponse, route: string, url: string, revision: number, asOf: number, ageSeconds?: number, extra: Record<string, unknown> = {}): void {
  const [tenant, service, environment] = route.split('/');
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-route-revision': String(revision),
    'x-consistency-revision': String(asOf),
    'x-cache': ageSeconds === undefined ? 'MISS' : 'HIT',
    'cache-control': 'max-age=60',
  };
  if (ageSeconds !== undefined) headers['age'] = String(ageSeconds);
  res.writeHead(200, headers);
  res.end(JSON.stringify({ tenant, service, environment, url, revision, ...extra }));
}

export function notFound(res: ServerResponse, route: string, asOf: number): void {
  problem(res, 404, 'Not Found', `route ${route} does not exist`, { code: 'route_not_found' }, { 'x-consistency-revision': String(asOf), 'x-cache': 'MISS' });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` until it holds (or fails after `ms`). */
export async function until(predicate: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
