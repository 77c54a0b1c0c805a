import { ALL_APPS, TEST_ADMIN_TOKEN, TestStack } from '@tm/testing';

/** The four apps as processes, against real PostgreSQL, Redis and Kafka. */
describe('the stack', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await TestStack.start();
  }, 120_000);
  afterAll(() => stack?.stop());

  it.each(ALL_APPS)('%s is live and ready, with its dependencies named', async (app) => {
    const live = await fetch(`${stack.app(app).url}/health/live`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${stack.app(app).url}/health/ready`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; details: Record<string, { status: string }> };
    expect(body.status).toBe('ok');
    const expected: Record<string, string[]> = {
      'command-api': ['postgres'],
      resolver: ['postgres', 'redis'],
      'outbox-relay': ['postgres', 'kafka'],
      'invalidation-worker': ['redis', 'kafka'],
    };
    expect(Object.keys(body.details).sort()).toEqual([...(expected[app] ?? [])].sort());
  });

  it.each(ALL_APPS)('%s serves Prometheus text at /metrics', async (app) => {
    await fetch(`${stack.app(app).url}/health/live`);
    const res = await fetch(`${stack.app(app).url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^# HELP tm_process_cpu_user_seconds_total/m);
    const counted = text
      .split('\n')
      .filter((l) => l.startsWith('tm_http_requests_total{') && l.includes('route="/health/live"'));
    expect(counted).toHaveLength(1);
    expect(counted[0]).toContain(`app="${app}"`);
    expect(counted[0]).toContain('status="200"');
    expect(Number(counted[0]?.split(' ').pop())).toBeGreaterThanOrEqual(1);
  });

  it.each(ALL_APPS)('%s echoes a caller X-Request-Id and makes one when absent', async (app) => {
    const echoed = await fetch(`${stack.app(app).url}/health/live`, { headers: { 'X-Request-Id': 'e2e-req-42' } });
    expect(echoed.headers.get('x-request-id')).toBe('e2e-req-42');
    const made = await fetch(`${stack.app(app).url}/health/live`);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('the HTTP APIs publish their OpenAPI document', async () => {
    for (const app of ['command-api', 'resolver'] as const) {
      const res = await fetch(`${stack.app(app).url}/docs-json`);
      expect(res.status).toBe(200);
      const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.paths)).toContain('/health/ready');
      expect((await fetch(`${stack.app(app).url}/docs`)).status).toBe(200);
    }
  });

  it('logs are JSON lines with the app name and never the authorization header', async () => {
    const resolver = stack.app('resolver');
    await fetch(`${resolver.url}/nowhere`, { headers: { Authorization: 'Bearer super-secret-value', 'X-Request-Id': 'log-check-1' } });
    const deadline = Date.now() + 5_000;
    while (!resolver.output.some((l) => l.includes('log-check-1')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const line = resolver.output.find((l) => l.includes('log-check-1'));
    expect(line).toBeDefined();
    const entry = JSON.parse(line as string) as { app: string; req: { id: string } };
    expect(entry.app).toBe('resolver');
    expect(entry.req.id).toBe('log-check-1');
    expect(resolver.output.join('\n')).not.toContain('super-secret-value');
    for (const l of resolver.output) expect(() => JSON.parse(l) as unknown).not.toThrow();
  });

  it('probes and scrapes are not logged', async () => {
    const worker = stack.app('invalidation-worker');
    await fetch(`${worker.url}/health/ready`);
    await fetch(`${worker.url}/metrics`);
    await new Promise((r) => setTimeout(r, 200));
    expect(worker.output.filter((l) => l.includes('"url":"/health') || l.includes('"url":"/metrics'))).toEqual([]);
  });

  it('the command API process writes and reads a route over HTTP', async () => {
    const url = `${stack.app('command-api').url}/v1/routes/e2e/web/prod`;
    const headers = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const put = await fetch(url, { method: 'PUT', headers, body: JSON.stringify({ url: 'https://web.e2e.internal' }) });
    expect(put.status).toBe(201);
    expect(put.headers.get('etag')).toBe('"1"');
    const get = await fetch(url, { headers });
    expect(await get.json()).toMatchObject({ tenant: 'e2e', url: 'https://web.e2e.internal', revision: 1 });
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('the command API process serves the built console, which may call the resolver process across origins', async () => {
    const page = await fetch(stack.consoleUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${stack.app('command-api').url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const resolver = stack.app('resolver').url;
    expect(page.headers.get('content-security-policy')).toContain(`connect-src 'self' ${resolver};`);
    const config = (await (await fetch(`${stack.consoleUrl}config.json`)).json()) as Record<string, unknown>;
    expect(config).toEqual({ resolverUrl: resolver, commandApiUrl: null });
    const origin = new URL(stack.consoleUrl).origin;
    const whoami = await fetch(`${resolver}/v1/whoami`, { headers: { origin, authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect(whoami.status).toBe(200);
    expect(whoami.headers.get('access-control-allow-origin')).toBe(origin);
    const other = await fetch(`${resolver}/v1/whoami`, { headers: { origin: 'http://127.0.0.1:1', authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it.each(ALL_APPS)('%s exits 0 on SIGTERM', async (app) => {
    const status = await stack.app(app).stop();
    expect(status).toEqual({ code: 0, signal: null });
    expect(stack.app(app).output.some((l) => l.includes('SIGTERM received'))).toBe(true);
  });
});
