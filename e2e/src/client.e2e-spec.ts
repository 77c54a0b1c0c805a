import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TEST_ADMIN_TOKEN, TestStack } from '@tm/testing';
import { TrafficManagerClient } from '@traffic-manager/client';

const run = promisify(execFile);
const CLI = join(__dirname, '..', '..', 'dist', 'libs', 'cli', 'cli.js');

/** A stored key of `tenant` with `scopes`, as a service would hold one. */
async function storedKey(commandUrl: string, tenant: string, scopes: string[]): Promise<string> {
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
  await fetch(`${commandUrl}/v1/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ slug: tenant }) });
  const res = await fetch(`${commandUrl}/v1/api-keys`, { method: 'POST', headers: admin, body: JSON.stringify({ name: `sdk-${tenant}`, tenant, scopes }) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The SDK and the `tm` CLI against the real apps (docs/guarantees.md, "Client SDK and CLI"): answers
 * from memory fed by the watch, sessions that read their own writes and never go backwards, a
 * token handed between clients, causal propagation through a service, and the CLI's exit codes.
 */
describe('the client SDK and the tm CLI against the stack', () => {
  let stack: TestStack;
  let commandUrl: string;
  let resolverUrl: string;
  let key: string;
  const clients: TrafficManagerClient[] = [];
  const client = (options: Partial<ConstructorParameters<typeof TrafficManagerClient>[0]> = {}) => {
    const c = new TrafficManagerClient({ resolverUrl, commandUrl, apiKey: key, timeoutMs: 5_000, ...options });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    stack = await TestStack.start({ env: { WATCH_BOOKMARK_INTERVAL_MS: '1000' } });
    commandUrl = stack.app('command-api').url;
    resolverUrl = stack.app('resolver').url;
    key = await storedKey(commandUrl, 'sdk', ['routes:write']);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await stack?.stop();
  });

  it('answers from memory once the watch is synced, its own writes included, and null for a missing route', async () => {
    const tm = client();
    const s = tm.session();
    const written = await s.put('sdk/web/prod', { url: 'https://web-1.example' });
    expect(s.revision).toBe(written.revision);
    const first = await s.resolve('sdk/web/prod');
    expect(first).toMatchObject({ url: 'https://web-1.example', revision: written.revision });
    expect(first?.asOf).toBeGreaterThanOrEqual(written.revision);
    // Once the tenant's watch is synced, lookups are served from memory.
    const fromMemory = await until('a memory answer', async () => {
      const r = await s.resolve('sdk/web/prod');
      return r?.source === 'memory' ? r : undefined;
    });
    expect(fromMemory.url).toBe('https://web-1.example');
    expect(fromMemory.ageMs).toBeLessThan(60_000);
    expect(await s.resolve('sdk/nothing/prod')).toBeNull();
    // A write, then a read in the same session: the new URL, never the one before it.
    const second = await s.put('sdk/web/prod', { url: 'https://web-2.example' });
    const after = await s.resolve('sdk/web/prod');
    expect(after).toMatchObject({ url: 'https://web-2.example', revision: second.revision });
    expect(tm.stats().memoryHits).toBeGreaterThan(0);
    expect(tm.stats().watches).toEqual([expect.objectContaining({ tenant: 'sdk', state: 'synced' })]);
  });

  it('carries a session between clients as a token: the second reads at least what the first wrote', async () => {
    const a = client();
    const b = client();
    await b.resolve('sdk/handoff/prod'); // b's watch of the tenant is open and synced before a writes
    const sa = a.session();
    const written = await sa.put('sdk/handoff/prod', { url: 'https://handoff.example' });
    const sb = b.session(sa.token);
    expect(sb.revision).toBe(written.revision);
    const seen = await sb.resolve('sdk/handoff/prod');
    expect(seen).toMatchObject({ url: 'https://handoff.example', revision: written.revision });
    expect(seen?.asOf).toBeGreaterThanOrEqual(written.revision);
    expect(() => b.session('not-a-token')).toThrow(expect.objectContaining({ code: 'invalid_token' }) as Error);
  });

  it('propagates the revision through a service: B, called by A after its write, reads at least that write', async () => {
    // B reads through the resolver only (no watch); what B's answer reflects is its as-of revision.
    // (The resolver's own change feed usually has a write within milliseconds, so a read without the
    // revision may already see it: only the revision makes it certain.)
    const serviceB = client({ watch: false });
    const server: Server = createServer((req, res) => {
      serviceB.middleware()(req, res, () => {
        void serviceB.resolve('sdk/causal/prod').then((r) => res.end(JSON.stringify({ url: r?.url ?? null, asOf: r?.asOf ?? null })));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const b = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    const serviceA = client();
    const sa = serviceA.session();
    await sa.put('sdk/causal/prod', { url: 'https://causal-1.example' });
    expect(await (await serviceA.run(sa, () => serviceA.fetch(b))).json()).toMatchObject({ url: 'https://causal-1.example' });
    try {
      const written = await sa.put('sdk/causal/prod', { url: 'https://causal-2.example' });
      // With the revision (tm.fetch in A's session, the middleware in B), B reads A's write, and says so.
      for (let i = 0; i < 5; i++) {
        const seen = (await (await serviceA.run(sa, () => serviceA.fetch(b))).json()) as { url: string; asOf: number };
        expect(seen.url).toBe('https://causal-2.example');
        expect(seen.asOf).toBeGreaterThanOrEqual(written.revision);
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('with the resolver gone, serves the last answer as stale only within staleIfErrorMs', async () => {
    const strict = client({ maxStalenessMs: 2_000 });
    const lenient = client({ maxStalenessMs: 2_000, staleIfErrorMs: 600_000 });
    const writer = client().session();
    await writer.put('sdk/outage/prod', { url: 'https://outage.example' });
    for (const c of [strict, lenient]) await until('an answer', async () => ((await c.session(writer.token).resolve('sdk/outage/prod'))?.url ? true : undefined));
    await stack.app('resolver').kill();
    try {
      // Memory answers stop once the last bookmark is older than maxStalenessMs; then the resolver is asked, and is gone.
      const stale = await until('a stale answer', async () => {
        const r = await lenient.resolve('sdk/outage/prod');
        return r?.source === 'stale' ? r : undefined;
      });
      expect(stale.url).toBe('https://outage.example');
      await expect(until('a refusal', async () => strict.resolve('sdk/outage/prod').then(() => undefined, (e: unknown) => e))).resolves.toMatchObject({
        code: expect.stringMatching(/^(network|unavailable|timeout)$/),
      });
    } finally {
      await stack.restart('resolver');
      resolverUrl = stack.app('resolver').url;
    }
  });

  describe('tm', () => {
    const tm = async (args: string[]) => {
      try {
        const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
          env: { ...process.env, TM_COMMAND_URL: commandUrl, TM_RESOLVER_URL: resolverUrl, TM_API_KEY: key },
        });
        return { code: 0, stdout, stderr };
      } catch (e) {
        const failed = e as { code: number; stdout: string; stderr: string };
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
      }
    };

    it('puts, gets, resolves, lists and deletes, with its exit codes', async () => {
      const put = await tm(['put', 'sdk/cli/prod', 'https://cli.example']);
      expect(put.code).toBe(0);
      const got = await tm(['get', 'sdk/cli/prod']);
      expect(got.code).toBe(0);
      expect(got.stdout).toContain('https://cli.example');
      const resolved = await tm(['resolve', 'sdk/cli/prod']);
      expect(resolved.code).toBe(0);
      expect(resolved.stdout).toContain('https://cli.example');
      const listed = await tm(['ls', 'sdk']);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain('sdk/cli/prod');
      expect((await tm(['delete', 'sdk/cli/prod'])).code).toBe(0);
      const missing = await tm(['get', 'sdk/cli/prod']);
      expect(missing.code).toBe(3);
      expect(missing.stderr.trim().split('\n')).toHaveLength(1);
      expect((await tm(['resolve', 'sdk/cli/prod'])).code).toBe(3);
      expect((await tm(['put', 'sdk/cli'])).code).toBe(2);
      const refused = await tm(['put', 'other/cli/prod', 'https://x.example']);
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toContain('403');
    });

    it('puts a traffic policy from a file, shows its health, and refuses a file that is not JSON or a bad policy', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tm-cli-'));
      try {
        const file = join(dir, 'policy.json');
        writeFileSync(
          file,
          JSON.stringify({
            endpoints: [
              { id: 'blue', url: 'https://blue.cli.example', weight: 3 },
              { id: 'green', url: 'https://green.cli.example', priority: 2 },
            ],
            healthCheck: { path: '/healthz', intervalSeconds: 5 },
          }),
        );
        const put = await tm(['put', 'sdk/policy/prod', '--file', file]);
        expect(put.code).toBe(0);
        expect(put.stdout).toMatch(/^created sdk\/policy\/prod https:\/\/blue\.cli\.example \(2 endpoints\) rev \d+/);
        const health = await tm(['health', 'sdk/policy/prod']);
        expect(health.code).toBe(0);
        expect(health.stdout.trim().split('\n')).toEqual([
          'blue https://blue.cli.example enabled unknown',
          'green https://green.cli.example enabled unknown',
        ]);
        expect((await tm(['health', 'sdk/nowhere/prod'])).code).toBe(3);
        const broken = join(dir, 'broken.json');
        writeFileSync(broken, '{"endpoints": [');
        expect((await tm(['put', 'sdk/policy/prod', '--file', broken])).code).toBe(2);
        const bad = join(dir, 'bad.json');
        writeFileSync(bad, JSON.stringify({ endpoints: [{ id: 'x', url: 'https://x.example', weight: -1 }] }));
        const refused = await tm(['put', 'sdk/policy/prod', '--file', bad]);
        expect(refused.code).toBe(1);
        expect(refused.stderr.trim().split('\n')).toHaveLength(1);
        expect(refused.stderr).toContain('weight must be a whole number from 0 to 1000');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('writes a policy through a session and reads the first choice back', async () => {
    const s = client().session();
    const written = await s.put('sdk/sdkpolicy/prod', {
      endpoints: [
        { id: 'a', url: 'https://a.sdk.example' },
        { id: 'b', url: 'https://b.sdk.example', priority: 2 },
      ],
    });
    expect(written).toMatchObject({ url: 'https://a.sdk.example', created: true, endpoints: [{ id: 'a' }, { id: 'b' }] });
    expect((await s.resolve('sdk/sdkpolicy/prod'))?.url).toBe('https://a.sdk.example');
  });

  it('a route whose every endpoint is disabled throws no_enabled_endpoint, from the resolver and from memory, never null', async () => {
    const writer = client().session();
    const disabled = (id: string) => ({ id, url: `https://${id}.off.example`, state: 'disabled' as const });
    await writer.put('sdk/off/prod', { endpoints: [disabled('a'), disabled('b')] });
    // The resolver's 404: the problem's code, not a missing route.
    const direct = client({ watch: false });
    const fromResolver = await direct
      .session(writer.token)
      .resolve('sdk/off/prod')
      .then((r) => r, (e: unknown) => e);
    expect(fromResolver).toMatchObject({ code: 'no_enabled_endpoint', status: 404, problem: { code: 'no_enabled_endpoint', type: 'urn:traffic-manager:problem:no_enabled_endpoint' } });
    const strong = await direct.resolve('sdk/off/prod', { consistency: 'strong' }).then((r) => r, (e: unknown) => e);
    expect(strong).toMatchObject({ code: 'no_enabled_endpoint', status: 404 });
    // From memory, once the watch holds the write: resolveCached and resolve alike, without asking the resolver.
    const watching = client();
    await watching.resolve('sdk/web/prod');
    const cached = await until('a memory answer at the write', () => {
      try {
        return watching.resolveCached('sdk/off/prod', writer.revision) === undefined ? undefined : 'answered';
      } catch (e) {
        return e;
      }
    });
    expect(cached).toMatchObject({ code: 'no_enabled_endpoint' });
    const calls = watching.stats().resolverCalls;
    await expect(watching.session(writer.token).resolve('sdk/off/prod')).rejects.toMatchObject({ code: 'no_enabled_endpoint' });
    expect(watching.stats().resolverCalls).toBe(calls);
  });
});
