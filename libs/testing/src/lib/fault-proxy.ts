import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy that a test puts between an app and PostgreSQL or Redis, to cut the link
 * the way a network does: `refuse()` turns new connections away and drops the open ones,
 * `blackhole()` accepts and then says nothing (a hung peer), `restore()` heals.
 */
export class FaultProxy {
  private mode: 'pass' | 'refuse' | 'blackhole' = 'pass';
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<FaultProxy> {
    // The server exists before the proxy object that owns it; connections wait for both.
    const owner: { proxy?: FaultProxy } = {};
    const server = createServer((client) => owner.proxy?.accept(client, targetHost, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the proxy did not bind');
    owner.proxy = new FaultProxy(server, address.port);
    return owner.proxy;
  }

  /** The proxy in front of the server named by `url` (postgres:// or redis://): same URL, our port. */
  static async forUrl(url: string): Promise<{ proxy: FaultProxy; url: string }> {
    const parsed = new URL(url);
    const proxy = await FaultProxy.start(parsed.hostname, Number(parsed.port || (parsed.protocol.startsWith('redis') ? 6379 : 5432)));
    parsed.hostname = '127.0.0.1';
    parsed.port = String(proxy.port);
    return { proxy, url: parsed.toString() };
  }

  private accept(client: Socket, host: string, port: number): void {
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    if (this.mode === 'refuse') return void client.destroy();
    if (this.mode === 'blackhole') return;
    const upstream = connect({ host, port });
    this.sockets.add(upstream);
    upstream.once('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    client.once('close', () => upstream.destroy());
    upstream.on('error', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** New connections are closed at once; open ones are dropped. */
  refuse(): void {
    this.mode = 'refuse';
    this.dropAll();
  }

  /** New connections are accepted and never answered; open ones are dropped. */
  blackhole(): void {
    this.mode = 'blackhole';
    this.dropAll();
  }

  restore(): void {
    this.mode = 'pass';
    for (const socket of this.sockets) if (!socket.readable) socket.destroy();
  }

  private dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
