import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { SseParser } from '@tm/watch';
import { createApiKey, TEST_ADMIN_TOKEN, TestStack } from '@tm/testing';
import { EndpointServer } from './endpoint-server';
import { eventually } from './support';

/** Low limits, so that tenant A reaches every one of them in seconds. */
const LIMITS = {
  RATE_LIMIT_PER_KEY: '50',
  WATCH_MAX_STREAMS_PER_KEY: '3',
  WATCH_MAX_STREAMS_PER_TENANT: '5',
  TENANT_MAX_PROBED_ENDPOINTS: '32',
  PROBE_MAX_TIMEOUT_SECONDS: '1',
};
const CHECK = { path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 };
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(url: string, token: string, init: { method?: string; body?: unknown } = {}): Promise<Reply> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A watch stream read as a client reads it: every change's revision, as it arrives. */
class Stream {
  readonly revisions: number[] = [];
  status = 0;
  ended = false;
  private response: IncomingMessage | undefined;

  static open(base: string, path: string, token: string): Promise<Stream> {
    const stream = new Stream();
    return new Promise((resolve, reject) => {
      const req = request(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
        stream.status = res.statusCode ?? 0;
        stream.response = res;
        res.setEncoding('utf8');
        const parser = new SseParser((frame) => {
          if ((frame.event === 'put' || frame.event === 'delete') && frame.id !== undefined) stream.revisions.push(Number(frame.id));
        });
        res.on('data', (chunk: string) => parser.push(chunk));
        res.on('close', () => (stream.ended = true));
        resolve(stream);
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.response?.destroy();
  }
}

/** A watch client that sends its request and never reads a byte (its stream holds the resolver's memory, if it can). */
function neverReads(base: string, path: string, token: string): Promise<number> {
  const { port } = new URL(base);
  return new Promise((resolve) => {
    const socket: Socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => resolve(0));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`);
    // The status line is all it reads; then it stops reading for good.
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))?.[1] ?? 0));
    });
    sockets.push(socket);
  });
}
const sockets: Socket[] = [];

/**
 * "Noisy neighbour" (docs/guarantees.md, "Tenancy"): tenant A runs every abuse at once (hanging
 * probes at its quota, watch streams at its quota that never read, requests past its rate) beside an
 * honest tenant B. Asserted: outcomes, not times. B never gets a 429 or a 503, every one of B's watch
 * events arrives, none of B's verdicts expires, B's failover happens; A gets its 429s and 409s with
 * their codes. Both tenants use stored, tenant-bound keys, as their services would.
 */
describe('noisy neighbour: one tenant abuses every limit beside an honest one', () => {
  let stack: TestStack;
  const servers: EndpointServer[] = [];
  const server = async () => {
    const s = await new EndpointServer().start();
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    stack = await TestStack.start({ env: LIMITS });
    await stack.startProbers(2, () => ({ PROBE_MAX_IN_FLIGHT: '8' }));
  }, 180_000);
  afterAll(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.map((s) => s.stop()));
    await stack?.stop();
  });

  it('B keeps every answer, event, verdict and its failover while A gets its 429s and 409s', async () => {
    const api = stack.app('command-api').url;
    const resolver = stack.app('resolver').url;
    for (const slug of ['noisy', 'quiet']) await fetch(`${api}/v1/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ slug }) });
    const [a1, a2, b] = await Promise.all([
      createApiKey(api, { name: 'noisy-1', tenant: 'noisy', scopes: ['routes:write'] }),
      createApiKey(api, { name: 'noisy-2', tenant: 'noisy', scopes: ['routes:write'] }),
      createApiKey(api, { name: 'quiet', tenant: 'quiet', scopes: ['routes:write'] }),
    ]);

    // B: two probed routes (a primary and a backup each) and a stream of its changes.
    const [primary, backup, apiPrimary, apiBackup] = [await server(), await server(), await server(), await server()];
    const policy = (p: EndpointServer, s: EndpointServer) => ({ endpoints: [{ id: 'primary', url: p.url() }, { id: 'backup', url: s.url(), priority: 2 }], healthCheck: CHECK });
    expect((await call(`${api}/v1/routes/quiet/web/prod`, b, { method: 'PUT', body: policy(primary, backup) })).status).toBe(201);
    expect((await call(`${api}/v1/routes/quiet/api/prod`, b, { method: 'PUT', body: policy(apiPrimary, apiBackup) })).status).toBe(201);
    const bHealth = async () => {
      const out: string[] = [];
      for (const route of ['quiet/web/prod', 'quiet/api/prod']) {
        const h = await call(`${resolver}/v1/routes/${route}/health`, b);
        expect(h.status).toBe(200);
        for (const e of h.body['endpoints'] as { id: string; health: string }[]) out.push(`${route}#${e.id}=${e.health}`);
      }
      return out;
    };
    await eventually(async () => (await bHealth()).every((h) => h.endsWith('=healthy')), 30_000, "B's endpoints healthy");
    const bStream = await Stream.open(resolver, '/v1/watch/quiet', b);
    expect(bStream.status).toBe(200);

    // A, everything at once. Hanging probes at its quota: two routes of 16 endpoints that never answer.
    const tarpit = await server();
    tarpit.hang = true;
    const hanging = (route: string) => ({
      endpoints: Array.from({ length: 16 }, (_, i) => ({ id: `e${i}`, url: `${tarpit.url()}/${route}/${i}` })),
      healthCheck: { ...CHECK, timeoutSeconds: 1 },
    });
    expect((await call(`${api}/v1/routes/noisy/tar1/prod`, a1, { method: 'PUT', body: hanging('tar1') })).status).toBe(201);
    expect((await call(`${api}/v1/routes/noisy/tar2/prod`, a1, { method: 'PUT', body: hanging('tar2') })).status).toBe(201);
    const overProbes = await call(`${api}/v1/routes/noisy/tar3/prod`, a1, { method: 'PUT', body: hanging('tar3') });
    // Watch streams at its quotas that never read.
    const streamStatuses = [];
    for (let i = 0; i < 4; i++) streamStatuses.push(await neverReads(resolver, '/v1/watch/noisy', a1));
    for (let i = 0; i < 3; i++) streamStatuses.push(await neverReads(resolver, '/v1/watch/noisy', a2));
    const overStreams = await call(`${resolver}/v1/watch/noisy`, a2);
    // Requests past its rate, for as long as B's scene lasts.
    let flooding = true;
    const aAnswers: Reply[] = [];
    const flood = Promise.all(
      Array.from({ length: 16 }, async () => {
        while (flooding) {
          const res = await call(`${resolver}/v1/resolve/noisy/tar1/prod`, a1);
          if (aAnswers.length < 5_000 || res.status !== 200) aAnswers.push(res);
        }
      }),
    );

    // B, meanwhile: steady reads, writes its stream must deliver, health that must never lapse.
    const bStatuses: number[] = [];
    const lapses: string[] = [];
    let failedOver = false;
    const writes: number[] = [];
    const scene = (async () => {
      for (let i = 0; i < 10; i++) {
        const w = await call(`${api}/v1/routes/quiet/cfg/prod`, b, { method: 'PUT', body: { url: `https://cfg-${i}.quiet.example` } });
        bStatuses.push(w.status);
        writes.push(Number(w.headers.get('x-route-revision')));
        for (let j = 0; j < 5; j++) {
          bStatuses.push((await call(`${resolver}/v1/resolve/quiet/web/prod`, b)).status);
          await new Promise((r) => setTimeout(r, 100));
        }
        for (const h of await bHealth()) if (!h.endsWith('=healthy')) lapses.push(h);
      }
      // B's primary stops: its failover must happen with A still at it.
      await primary.stop();
      await eventually(
        async () => {
          const res = await call(`${resolver}/v1/resolve/quiet/web/prod`, b);
          bStatuses.push(res.status);
          failedOver = res.body['url'] === backup.url();
          for (const h of await bHealth()) if (!h.endsWith('=healthy') && !h.startsWith('quiet/web/prod#primary')) lapses.push(h);
          return failedOver;
        },
        30_000,
        "B's failover to its backup",
      );
    })();
    try {
      await scene;
      await eventually(() => writes.every((r) => bStream.revisions.includes(r)), 10_000, "every one of B's events on its stream");
    } finally {
      flooding = false;
      await flood;
    }

    // B: never a 429 or a 503, every event, no verdict lapsed, the failover done.
    expect(bStatuses.filter((s) => s !== 200 && s !== 201)).toEqual([]);
    expect(writes.filter((r) => !bStream.revisions.includes(r))).toEqual([]);
    expect(bStream.ended).toBe(false);
    expect(lapses).toEqual([]);
    expect(failedOver).toBe(true);

    // A: its refusals, each with its code (and the rate limit's headers).
    expect(overProbes).toMatchObject({ status: 409, body: { code: 'tenant_probe_quota' } });
    expect(streamStatuses).toEqual([200, 200, 200, 429, 200, 200, 429]);
    expect(overStreams).toMatchObject({ status: 429, body: { code: 'watch_stream_quota' } });
    const limited = aAnswers.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(aAnswers.filter((r) => r.status !== 200 && r.status !== 429)).toEqual([]);
    const one = limited[0] as Reply;
    expect(one.body).toMatchObject({ code: 'rate_limited', type: 'urn:traffic-manager:problem:rate_limited' });
    expect(one.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(one.headers.get('ratelimit')).toMatch(/^"default";r=\d+;t=\d+$/);
    expect(one.headers.get('ratelimit-policy')).toBe('"default";q=50;w=1');
  }, 180_000);
});
