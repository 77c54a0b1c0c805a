import { createApiKey, TEST_ADMIN_TOKEN, TestStack, type AppProcess } from '@tm/testing';
import { TrafficManagerClient } from '@traffic-manager/client';
import { EndpointServer } from './endpoint-server';
import { eventually, metric } from './support';

const CHECK = { path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 };
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };

interface Answer {
  url: string;
  failOpen: boolean;
  endpoints: { id: string; health: string }[];
}
interface HealthAnswer {
  healthCheck: { timeoutSeconds: number } | null;
  probeTimeoutSeconds: number | null;
  endpoints: { id: string; health: string; since: string | null; lastError: { message: string; prober: string } | null; verdicts: { fresh: number; healthy: number; unhealthy: number } }[];
}

/**
 * The health prober against the whole system: two replicas probing real endpoint servers, their
 * verdicts in Redis, and the resolver's answers moving with them.
 */
describe('health probing (two probers, the whole system)', () => {
  let stack: TestStack;
  let probers: AppProcess[];
  const servers: EndpointServer[] = [];
  const server = async (host?: string) => {
    const s = await new EndpointServer(host).start();
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    stack = await TestStack.start();
    // Prober 1 may not reach 127.0.0.2 (as if cut off from it); prober 2 may. Both may probe loopback
    // (the harness allows it). Probe timeouts are capped at 1 s (every check here has 1 s but one).
    probers = await stack.startProbers(2, (i): Record<string, string> => ({ PROBE_MAX_TIMEOUT_SECONDS: '1', ...(i === 0 ? { PROBE_DENY_CIDRS: '127.0.0.2/32' } : {}) }));
  }, 180_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await stack?.stop();
  });

  async function put(route: string, body: unknown): Promise<number> {
    const res = await fetch(`${stack.app('command-api').url}/v1/routes/${route}`, { method: 'PUT', headers: auth, body: JSON.stringify(body) });
    expect([200, 201]).toContain(res.status);
    return Number(res.headers.get('x-route-revision'));
  }
  async function resolve(route: string, query = ''): Promise<Answer> {
    const res = await fetch(`${stack.app('resolver').url}/v1/resolve/${route}${query}`, { headers: auth });
    expect(res.status).toBe(200);
    return (await res.json()) as Answer;
  }
  async function health(route: string): Promise<HealthAnswer> {
    const res = await fetch(`${stack.app('resolver').url}/v1/routes/${route}/health`, { headers: auth });
    expect(res.status).toBe(200);
    return (await res.json()) as HealthAnswer;
  }
  const healthOf = async (route: string, id: string) => (await health(route)).endpoints.find((e) => e.id === id);

  it('both probers are live and ready (their watch synced) and count their probes', async () => {
    for (const p of probers) {
      const ready = await fetch(`${p.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(Object.keys(((await ready.json()) as { details: object }).details).sort()).toEqual(['redis', 'watch']);
    }
    expect(await metric(probers[0] as AppProcess, 'tm_prober_watch_up')).toBe(1);
  });

  it('fails over to the next priority when the primary stops answering, and back after the healthy threshold', async () => {
    const primary = await server();
    const backup = await server();
    await put('hp/web/prod', { endpoints: [{ id: 'primary', url: primary.url() }, { id: 'backup', url: backup.url(), priority: 2 }], healthCheck: CHECK });
    await eventually(async () => (await healthOf('hp/web/prod', 'primary'))?.health === 'healthy', 20_000, 'primary healthy');
    expect((await resolve('hp/web/prod')).url).toBe(primary.url());

    await primary.stop();
    await eventually(async () => (await resolve('hp/web/prod')).url === backup.url(), 20_000, 'failover to the backup');
    const down = await healthOf('hp/web/prod', 'primary');
    expect(down).toMatchObject({ health: 'unhealthy', verdicts: { unhealthy: 2 } });
    // The failure's class, not the system's message (which names the address).
    expect(down?.lastError?.message).toBe('connection refused');
    expect(down?.since).toEqual(expect.any(String));

    await primary.start();
    await eventually(async () => (await resolve('hp/web/prod')).url === primary.url(), 20_000, 'failback to the primary');
    expect(await metric(probers[0] as AppProcess, 'tm_prober_transitions_total')).toBeGreaterThan(0);
  });

  it("an SDK's memory answers fail over and back too: health reaches them through the watch (?health=true)", async () => {
    const primary = await server();
    const backup = await server();
    // A stored key of the tenant, as a calling service holds.
    await fetch(`${stack.app('command-api').url}/v1/tenants`, { method: 'POST', headers: auth, body: JSON.stringify({ slug: 'hpsdk' }) });
    const key = await createApiKey(stack.app('command-api').url, { name: 'sdk', tenant: 'hpsdk', scopes: ['routes:read'] });
    await put('hpsdk/web/prod', { endpoints: [{ id: 'primary', url: primary.url() }, { id: 'backup', url: backup.url(), priority: 2 }], healthCheck: CHECK });
    const tm = new TrafficManagerClient({ resolverUrl: stack.app('resolver').url, apiKey: key, timeoutMs: 5_000, watchWaitMs: 2_000 });
    try {
      await eventually(async () => (await tm.resolve('hpsdk/web/prod'))?.source === 'memory', 20_000, 'a memory answer');
      await eventually(async () => tm.resolveCached('hpsdk/web/prod')?.endpoints.find((e) => e.id === 'primary')?.health === 'healthy', 20_000, 'primary healthy in memory');
      expect(tm.resolveCached('hpsdk/web/prod')).toMatchObject({ url: primary.url(), failOpen: false, source: 'memory' });
      const resolverCalls = tm.stats().resolverCalls;

      await primary.stop();
      await eventually(async () => tm.resolveCached('hpsdk/web/prod')?.url === backup.url(), 20_000, 'the SDK fails over to the backup');
      expect(tm.resolveCached('hpsdk/web/prod')?.endpoints.map((e) => [e.id, e.health])).toEqual([
        ['backup', 'healthy'],
        ['primary', 'unhealthy'],
      ]);
      await primary.start();
      await eventually(async () => tm.resolveCached('hpsdk/web/prod')?.url === primary.url(), 20_000, 'the SDK fails back to the primary');
      // All of it from memory: the resolver was not asked.
      expect(tm.stats().resolverCalls).toBe(resolverCalls);
    } finally {
      await tm.close();
    }
  });

  it('fails open when every endpoint is down', async () => {
    const a = await server();
    const b = await server();
    await put('hp/pay/prod', { endpoints: [{ id: 'a', url: a.url() }, { id: 'b', url: b.url(), priority: 2 }], healthCheck: CHECK });
    await eventually(async () => (await healthOf('hp/pay/prod', 'b'))?.health === 'healthy', 20_000, 'b healthy');
    await a.stop();
    await b.stop();
    await eventually(async () => (await resolve('hp/pay/prod')).failOpen, 20_000, 'fail open');
    expect((await resolve('hp/pay/prod')).url).toBe(a.url());
  });

  it('one prober cut off from an endpoint does not mark it down: one verdict of two is no majority', async () => {
    const s = await server();
    s.failFor = 'prober-1';
    await put('hp/quorum/prod', { endpoints: [{ id: 'only', url: s.url() }, { id: 'other', url: 'http://127.0.0.1:1', priority: 2 }], healthCheck: CHECK });
    await eventually(async () => {
      const h = await healthOf('hp/quorum/prod', 'only');
      return h?.verdicts.healthy === 1 && h.verdicts.unhealthy === 1;
    }, 20_000, 'one healthy and one unhealthy verdict');
    expect(await healthOf('hp/quorum/prod', 'only')).toMatchObject({ health: 'unknown', lastError: { prober: 'prober-1' } });
    expect((await resolve('hp/quorum/prod')).url).toBe(s.url());
  });

  it('an endpoint in one prober PROBE_DENY_CIDRS is judged by the other alone', async () => {
    const s = await server('0.0.0.0');
    await put('hp/denied/prod', { endpoints: [{ id: 'e', url: s.url('127.0.0.2') }], healthCheck: CHECK });
    await eventually(async () => (await healthOf('hp/denied/prod', 'e'))?.health === 'healthy', 20_000, 'healthy by prober 2');
    expect(s.seen.every((h) => !String(h['user-agent']).includes('prober-1'))).toBe(true);
    expect((await healthOf('hp/denied/prod', 'e'))?.lastError).toMatchObject({ prober: 'prober-1', message: 'refused: address in PROBE_DENY_CIDRS' });
  });

  it('metadata addresses are always refused: the endpoint stays unknown, nothing is sent', async () => {
    await put('hp/meta/prod', { endpoints: [{ id: 'meta', url: 'http://169.254.169.254/latest/meta-data/' }], healthCheck: CHECK });
    await eventually(async () => (await healthOf('hp/meta/prod', 'meta'))?.lastError !== null, 20_000, 'refused');
    const h = await healthOf('hp/meta/prod', 'meta');
    expect(h).toMatchObject({ health: 'unknown', lastError: { message: 'refused: metadata address' } });
  });

  it('probes send no key and follow no redirect; a 3xx is a failure when 2xx is expected', async () => {
    const target = await server();
    const redirecting = await server();
    redirecting.redirectTo = `${target.url()}/healthz`;
    await put('hp/redirect/prod', { endpoints: [{ id: 'r', url: `${redirecting.url()}/app/` }], healthCheck: CHECK });
    await eventually(async () => (await healthOf('hp/redirect/prod', 'r'))?.health === 'unhealthy', 20_000, 'unhealthy on 302');
    expect(target.seen).toHaveLength(0);
    expect(redirecting.seen.length).toBeGreaterThan(0);
    for (const headers of redirecting.seen) {
      expect(headers['authorization']).toBeUndefined();
      expect(headers['cookie']).toBeUndefined();
      expect(String(headers['user-agent'])).toMatch(/^traffic-manager-health-prober\/1 \(prober-[12]\)$/);
    }
    expect((await healthOf('hp/redirect/prod', 'r'))?.lastError?.message).toMatch(/HTTP 302/);
  });

  it('a stored timeout above PROBE_MAX_TIMEOUT_SECONDS is probed with the cap, and the health answer says so', async () => {
    const s = await server();
    s.hang = true;
    await put('hp/cap/prod', { endpoints: [{ id: 'slow', url: s.url() }], healthCheck: { ...CHECK, intervalSeconds: 2, timeoutSeconds: 2 } });
    await eventually(async () => (await healthOf('hp/cap/prod', 'slow'))?.health === 'unhealthy', 20_000, 'unhealthy on timeouts');
    const answer = await health('hp/cap/prod');
    expect(answer).toMatchObject({ healthCheck: { timeoutSeconds: 2 }, probeTimeoutSeconds: 1 });
    expect(answer.endpoints[0]?.lastError?.message).toBe('timeout after 1 s');
  });

  it('a weight change keeps the health; a re-pointed endpoint starts unknown', async () => {
    const s = await server();
    const t = await server();
    const policy = (url: string, weight: number) => ({ endpoints: [{ id: 'e', url, weight }, { id: 'spare', url: t.url(), priority: 2 }], healthCheck: CHECK });
    await put('hp/keep/prod', policy(s.url(), 1));
    await eventually(async () => (await healthOf('hp/keep/prod', 'e'))?.health === 'healthy', 20_000, 'healthy');
    await put('hp/keep/prod', policy(s.url(), 5));
    expect((await healthOf('hp/keep/prod', 'e'))?.health).toBe('healthy');
    const other = await server();
    await put('hp/keep/prod', policy(other.url(), 5));
    expect((await healthOf('hp/keep/prod', 'e'))?.health).toBe('unknown');
    await eventually(async () => (await healthOf('hp/keep/prod', 'e'))?.health === 'healthy', 20_000, 'the new URL healthy');
  });

  it('a prober killed: its verdicts expire and the other carries on alone', async () => {
    const s = await server();
    await put('hp/alone/prod', { endpoints: [{ id: 'e', url: s.url() }, { id: 'f', url: 'http://127.0.0.1:1', priority: 2 }], healthCheck: CHECK });
    await eventually(async () => (await healthOf('hp/alone/prod', 'e'))?.verdicts.healthy === 2, 20_000, 'two healthy verdicts');
    await (probers[1] as AppProcess).kill();
    await s.stop();
    // Prober 1 says unhealthy within two intervals; prober 2's healthy verdict lives on until it expires (about three intervals).
    await eventually(async () => (await healthOf('hp/alone/prod', 'e'))?.health === 'unhealthy', 20_000, 'unhealthy by prober 1 alone');
    expect((await healthOf('hp/alone/prod', 'e'))?.verdicts).toEqual({ fresh: 1, healthy: 0, unhealthy: 1 });
  });

  it("every prober stopped: the verdicts expire, and the SDK's memory answers select as the resolver's, from unknown", async () => {
    const primary = await server();
    const backup = await server();
    await primary.stop();
    await fetch(`${stack.app('command-api').url}/v1/tenants`, { method: 'POST', headers: auth, body: JSON.stringify({ slug: 'hpgone' }) });
    const key = await createApiKey(stack.app('command-api').url, { name: 'sdk', tenant: 'hpgone', scopes: ['routes:read'] });
    await put('hpgone/web/prod', { endpoints: [{ id: 'primary', url: primary.url() }, { id: 'backup', url: backup.url(), priority: 2 }], healthCheck: CHECK });
    const tm = new TrafficManagerClient({ resolverUrl: stack.app('resolver').url, apiKey: key, timeoutMs: 5_000, watchWaitMs: 2_000 });
    const shape = (a: { url: string; failOpen: boolean; endpoints: readonly { id: string; health: string }[] } | null | undefined) => a && { url: a.url, failOpen: a.failOpen, endpoints: a.endpoints.map((e) => [e.id, e.health]) };
    try {
      await eventually(async () => (await tm.resolve('hpgone/web/prod'))?.source === 'memory', 20_000, 'a memory answer');
      await eventually(async () => tm.resolveCached('hpgone/web/prod')?.url === backup.url(), 20_000, 'the primary unhealthy in memory');
      const resolverCalls = tm.stats().resolverCalls;
      // The probers still running (the test before killed one) stop: no verdict is written again.
      for (const p of probers) if (p.running) await p.kill();
      await eventually(async () => (await resolve('hpgone/web/prod')).endpoints.every((e) => e.health === 'unknown'), 20_000, "the resolver's answer unknown");
      const expected = shape(await resolve('hpgone/web/prod'));
      expect(expected).toEqual({ url: primary.url(), failOpen: false, endpoints: [['primary', 'unknown'], ['backup', 'unknown']] });
      await eventually(async () => JSON.stringify(shape(tm.resolveCached('hpgone/web/prod'))) === JSON.stringify(expected), 10_000, 'the memory answer as the resolver');
      expect(tm.resolveCached('hpgone/web/prod')?.source).toBe('memory');
      expect(tm.stats().resolverCalls).toBe(resolverCalls);
    } finally {
      await tm.close();
    }
  });
});

/**
 * A prober as production runs it (PROBE_ALLOW_LOOPBACK off): an endpoint on this machine, however
 * spelled, is never probed; it stays unknown, and what the health answer says names no address.
 */
describe('health probing without loopback (as in production)', () => {
  let stack: TestStack;
  let prober: AppProcess;
  let local: EndpointServer;

  beforeAll(async () => {
    stack = await TestStack.start();
    [prober] = (await stack.startProbers(1, () => ({ PROBE_ALLOW_LOOPBACK: 'false' }))) as [AppProcess];
    local = await new EndpointServer().start();
  }, 180_000);
  afterAll(async () => {
    await local?.stop();
    await stack?.stop();
  });

  it('a route pointing at 127.0.0.1 (or localhost, 2130706433, ::ffff:127.0.0.1) stays unknown; lastError names the rule, not the address', async () => {
    const hosts = { plain: '127.0.0.1', name: 'localhost', decimal: '2130706433', mapped: '[::ffff:127.0.0.1]' };
    const res = await fetch(`${stack.app('command-api').url}/v1/routes/nolo/web/prod`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ endpoints: Object.entries(hosts).map(([id, host]) => ({ id, url: local.url(host) })), healthCheck: CHECK }),
    });
    expect([200, 201]).toContain(res.status);
    const healthOf = async () => {
      const h = await fetch(`${stack.app('resolver').url}/v1/routes/nolo/web/prod/health`, { headers: auth });
      expect(h.status).toBe(200);
      return ((await h.json()) as HealthAnswer).endpoints;
    };
    // Three rounds of the four endpoints refused (the prober's count), then: still unknown, nothing sent.
    const refused = async () => {
      const text = await (await fetch(`${prober.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('tm_prober_probes_total{') && l.includes('outcome="refused"') && l.includes('tenant="nolo"'));
      return Number(line?.split(' ').pop() ?? 0);
    };
    await eventually(async () => (await refused()) >= 12, 20_000, 'three rounds refused');
    const endpoints = await healthOf();
    expect(endpoints).toHaveLength(4);
    for (const e of endpoints) {
      // The rule that refused it, exactly: no address, no port, no name.
      expect(e).toMatchObject({ health: 'unknown', lastError: { message: 'refused: loopback address (PROBE_ALLOW_LOOPBACK is off)', prober: 'prober-1' } });
    }
    expect(local.seen).toHaveLength(0);
  });
});
