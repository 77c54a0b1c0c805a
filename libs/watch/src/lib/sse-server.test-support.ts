import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { routeEvent, type WatchBookmark } from '@tm/contracts';

/** A request the server took: its headers and when (performance.now()). */
export interface Taken {
  url: string;
  headers: IncomingHttpHeaders;
  at: number;
  /** Resolves when the client closed it (or the server ended it). */
  closed: Promise<void>;
}

/**
 * A local HTTP server that answers the n-th watch request (1-based) as the test says: a stream it
 * writes SSE frames to (`Stream`), or a refusal. Real sockets, real chunking: no fetch mock.
 */
export class SseServer {
  readonly taken: Taken[] = [];
  private readonly open = new Set<ServerResponse>();

  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    readonly url: string,
  ) {}

  static async start(answer: (n: number, res: ServerResponse) => void): Promise<SseServer> {
    const holder: { s?: SseServer } = {};
    const server = createServer((req, res) => {
      const s = holder.s;
      if (!s) return;
      let closed!: () => void;
      s.taken.push({ url: req.url ?? '/', headers: req.headers, at: performance.now(), closed: new Promise<void>((resolve) => (closed = resolve)) });
      s.open.add(res);
      res.on('close', () => {
        s.open.delete(res);
        closed();
      });
      answer(s.taken.length, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.s = new SseServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return holder.s;
  }

  async close(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A refusal as the resolver sends one (problem+json). */
export function refuse(res: ServerResponse, status: number, detail: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/problem+json', ...headers });
  res.end(JSON.stringify({ type: 'about:blank', status, detail }));
}

/** Opens a watch stream; every write goes out at once (its own chunk, as far as TCP allows). */
export function stream(res: ServerResponse, bookmarkIntervalMs = 5000): Stream {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-watch-bookmark-interval-ms': String(bookmarkIntervalMs) });
  res.flushHeaders();
  return new Stream(res);
}

export class Stream {
  constructor(readonly res: ServerResponse) {}

  /** A put (`id` absent: a snapshot's, or not the last of its revision); `url` null: a delete. */
  change(route: string, url: string | null, revision: number, id?: number): this {
    const [tenant, service, environment] = route.split('/') as [string, string, string];
    const event = routeEvent(`e${revision}-${route}`, new Date(), { tenant, service, environment, url, revision });
    return this.write(`event: ${url === null ? 'delete' : 'put'}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(event)}\n\n`);
  }

  bookmark(revision: number, snapshot = false, ageMs = 0): this {
    const data: WatchBookmark = { revision, knownCurrentAt: new Date().toISOString(), ageMs, snapshot };
    return this.write(`event: bookmark\nid: ${revision}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  health(route: string, endpoint: string, health: string, healthRevision: number): this {
    const [tenant, service, environment] = route.split('/') as [string, string, string];
    return this.write(`event: health\ndata: ${JSON.stringify({ tenant, service, environment, endpoint, health, healthRevision, since: new Date(0).toISOString() })}\n\n`);
  }

  write(text: string): this {
    this.res.write(text);
    return this;
  }
}

/** Resolves once `test` holds (checked every 5 ms), or rejects after `timeoutMs` naming `what`. */
export async function until(test: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!test()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
