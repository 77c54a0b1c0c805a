import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An endpoint a test starts, stops and makes answer as it likes (the health probers probe it). */
export class EndpointServer {
  server: Server | undefined;
  port = 0;
  status = 200;
  /** Answers 503 to the prober whose User-Agent contains this, 200 to the others (one prober cut off). */
  failFor: string | undefined;
  redirectTo: string | undefined;
  /** Takes requests and never answers. */
  hang = false;
  readonly seen: IncomingHttpHeaders[] = [];

  constructor(private readonly host = '127.0.0.1') {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.seen.push(req.headers);
      if (this.hang) return;
      if (this.redirectTo) {
        res.writeHead(302, { location: this.redirectTo }).end();
        return;
      }
      const cut = this.failFor !== undefined && String(req.headers['user-agent']).includes(this.failFor);
      res.writeHead(cut ? 503 : this.status).end('ok');
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, this.host, resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Stops answering: connections are refused. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  url(host = '127.0.0.1'): string {
    return `http://${host}:${this.port}`;
  }
}
