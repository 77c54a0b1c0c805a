import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import middie from '@fastify/middie';
import { trafficManagerMiddleware } from '../index';
import { TrafficManagerClient } from './client';
import { FakeServer, resolved } from './fake-server.test-support';

/**
 * Causal propagation end to end: service A calls B with X-Min-Revision; B's middleware starts the
 * request's session from it, B's lookups ask for at least that revision and B's outgoing calls
 * (tm.fetch) carry it on to C.
 */
let resolver: FakeServer;
let downstream: Server;
let downstreamUrl: string;
const seenDownstream: (string | undefined)[] = [];
let tm: TrafficManagerClient;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeEach(async () => {
  resolver = await FakeServer.start();
  resolver.on('/v1/resolve/', (req, res) => resolved(res, 'acme/api/prod', 'https://a.example', 3, Number(req.headers['x-min-revision'] ?? 1)));
  downstream = createServer((req, res) => {
    seenDownstream.push(req.headers['x-min-revision'] as string | undefined);
    res.end('ok');
  });
  downstreamUrl = await listen(downstream);
  seenDownstream.length = 0;
  tm = new TrafficManagerClient({ resolverUrl: resolver.url, watch: false });
});

afterEach(async () => {
  await tm.close();
  await resolver.close();
  downstream.closeAllConnections();
  await new Promise((resolve) => downstream.close(resolve));
});

/** What service B does for each request: a lookup, then a call to C. */
async function serviceB(): Promise<{ revision: number | undefined; asOf: number | undefined }> {
  const answer = await tm.resolve('acme/api/prod');
  await (await tm.fetch(`${downstreamUrl}/c`)).text();
  return { revision: tm.currentSession()?.revision, asOf: answer?.asOf };
}

async function call(url: string, init: RequestInit = {}): Promise<unknown> {
  const res = await fetch(url, init);
  expect(res.status).toBe(200);
  return res.json();
}

describe('middleware and tm.fetch', () => {
  it('through a plain http.createServer: the incoming X-Min-Revision reaches the resolver and the next service', async () => {
    const middleware = trafficManagerMiddleware(tm);
    const b = createServer((req: IncomingMessage, res: ServerResponse) => {
      middleware(req, res, () => {
        void (async () => {
          // Reading the body with await keeps the request's context.
          for await (const _ of req) void _;
          res.end(JSON.stringify(await serviceB()));
        })();
      });
    });
    const url = await listen(b);
    try {
      expect(await call(`${url}/b`, { method: 'POST', body: 'x'.repeat(100_000), headers: { 'x-min-revision': '42' } })).toEqual({ revision: 42, asOf: 42 });
      expect(resolver.requests('/v1/resolve/')[0]?.headers['x-min-revision']).toBe('42');
      expect(seenDownstream).toEqual(['42']);
      // Without the header: a fresh session at 0 that learns the answer's as-of revision.
      expect(await call(`${url}/b`)).toEqual({ revision: 1, asOf: 1 });
      expect(resolver.requests('/v1/resolve/')[1]?.headers['x-min-revision']).toBeUndefined();
      expect(seenDownstream).toEqual(['42', '1']);
    } finally {
      b.closeAllConnections();
      await new Promise((resolve) => b.close(resolve));
    }
  });

  it('tm.run sets the session explicitly; tm.fetch keeps a higher X-Min-Revision the caller set; outside any session it adds nothing', async () => {
    const s = tm.session();
    s.observe(7);
    await tm.run(s, async () => {
      await (await tm.fetch(`${downstreamUrl}/c`)).text();
      await (await tm.fetch(`${downstreamUrl}/c`, { headers: { 'X-Min-Revision': '9' } })).text();
      await (await tm.fetch(new Request(`${downstreamUrl}/c`, { headers: { 'x-min-revision': '3' } }))).text();
    });
    await (await tm.fetch(`${downstreamUrl}/c`)).text();
    expect(seenDownstream).toEqual(['7', '9', '7', undefined]);
  });

  it('Fastify with the plugin: the session survives body parsing and async handlers', async () => {
    const app = Fastify();
    await app.register(tm.fastifyPlugin());
    app.post('/b', async () => serviceB());
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    try {
      const body = JSON.stringify({ big: 'y'.repeat(50_000) });
      expect(await call(`http://127.0.0.1:${port}/b`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-min-revision': '42' } })).toEqual({
        revision: 42,
        asOf: 42,
      });
      expect(seenDownstream).toEqual(['42']);
    } finally {
      await app.close();
    }
  });

  it('Fastify through @fastify/middie with the connect-style middleware', async () => {
    const app = Fastify();
    await app.register(middie);
    app.use(tm.middleware());
    app.get('/b', async () => serviceB());
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    try {
      expect(await call(`http://127.0.0.1:${port}/b`, { headers: { 'x-min-revision': '42' } })).toEqual({ revision: 42, asOf: 42 });
      expect(seenDownstream).toEqual(['42']);
    } finally {
      await app.close();
    }
  });
});
