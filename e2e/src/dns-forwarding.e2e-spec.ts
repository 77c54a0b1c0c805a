import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeDnsPort, TEST_ADMIN_TOKEN, TestStack, unboundConfig } from '@tm/testing';
import { dig, type Dug } from './dig';
import { eventually, write } from './support';
import { debianTool, run as runSync } from './tools';

const ZONE = 'tm.internal';
/** Short, so that the cache's expiry is seen within the test. */
const TTL_SECONDS = 3;
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };

/**
 * The cluster's DNS forwarding the zone to the resolver (docs/deployment.md, "DNS: CoreDNS and
 * pods"), proved with Debian's Unbound in CoreDNS's place (no CoreDNS binary can be installed here):
 * an Unbound with the zone as a stub zone pointing at a test stack's resolver DNS port, asked with
 * dig. The route's answer comes through; Unbound's cache honours the resolver's TTL (after a write
 * the old address is served until its TTL runs out, to the whole second, and no longer); a closed
 * tenant is NXDOMAIN through it as well.
 */
describe('DNS forwarding: Unbound forwards the zone to the resolver', () => {
  let stack: TestStack;
  let unbound: ChildProcess | undefined;
  let unboundPort: number;
  const unboundOutput: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tm-dns-forwarding-'));

  const viaUnbound = (...args: string[]) => dig(unboundPort, ...args);
  const direct = (...args: string[]) => dig(stack.dnsPort, ...args);
  const address = (d: Dug) => d.answer.find((r) => r[3] === 'A')?.[4];
  const put = async (route: string, url: string): Promise<void> => {
    expect([200, 201]).toContain((await write(stack.app('command-api'), route, url)).status);
  };

  beforeAll(async () => {
    debianTool('dig', 'bind9-dnsutils');
    debianTool('unbound', 'unbound');
    stack = await TestStack.start({ apps: ['command-api', 'resolver'], env: { AUTH_CACHE_TTL_MS: '1000', DNS_TTL_SECONDS: String(TTL_SECONDS) } });
    await put('acme/web/prod', 'http://192.0.2.1:8080/');
    await put('globex/web/prod', 'http://192.0.2.9:8080/');
    const opened = await fetch(`${stack.app('command-api').url}/v1/tenants/acme`, { method: 'PATCH', headers: auth, body: JSON.stringify({ dns: true }) });
    expect(opened.status).toBe(200);
    await eventually(async () => address(await direct('prod.web.acme.tm.internal', 'A')) === '192.0.2.1', 15_000, 'acme open to DNS at the resolver');

    unboundPort = await freeDnsPort();
    const config = join(dir, 'unbound.conf');
    // The zone as a stub zone on the resolver's DNS port; every other name refused (no recursion).
    writeFileSync(config, unboundConfig({ dir, port: unboundPort, zone: ZONE, stub: stack.dnsPort }));
    const check = runSync('unbound-checkconf', [config]);
    if (!check.ok) throw new Error(`unbound-checkconf ${config}: ${check.stdout}${check.stderr}`);
    unbound = spawn('unbound', ['-d', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [unbound.stdout, unbound.stderr]) stream?.on('data', (chunk: Buffer) => unboundOutput.push(chunk.toString('utf8')));
    await eventually(
      async () => {
        if (unbound?.exitCode !== null) throw new Error(`unbound exited:\n${unboundOutput.join('')}`);
        return (await viaUnbound('example.com', 'A').catch(() => ({ status: 'none' }))).status === 'REFUSED';
      },
      15_000,
      'unbound answering',
    );
  }, 240_000);

  afterAll(async () => {
    if (unbound && unbound.exitCode === null) {
      const exited = new Promise((resolve) => unbound?.once('exit', resolve));
      unbound.kill('SIGTERM');
      await exited;
    }
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers the route through Unbound, over UDP and TCP, with the resolver's TTL at most", async () => {
    for (const transport of ['+notcp', '+tcp']) {
      const d = await viaUnbound(transport, 'prod.web.acme.tm.internal', 'A');
      expect(d.status).toBe('NOERROR');
      // Unbound's answer: recursion available, not authoritative (the resolver's was).
      expect(d.flags).toContain('ra');
      expect(d.answer.map((r) => [r[0], r[3], r[4]])).toEqual([['prod.web.acme.tm.internal.', 'A', '192.0.2.1']]);
      expect(Number(d.answer[0]?.[1])).toBeLessThanOrEqual(TTL_SECONDS);
    }
    // Case does not matter; the resolver's own answer is authoritative.
    expect(address(await viaUnbound('PROD.Web.ACME.tm.internal', 'A'))).toBe('192.0.2.1');
    expect((await direct('prod.web.acme.tm.internal', 'A')).flags).toContain('aa');
  });

  it('honours the TTL: after a write Unbound serves the old address until its TTL runs out, then the new one', async () => {
    // Let what the previous test cached run out, then cache the current address afresh.
    await eventually(async () => Number((await viaUnbound('prod.web.acme.tm.internal', 'A')).answer[0]?.[1]) === TTL_SECONDS, 15_000, 'a fresh entry in the cache');
    const cachedAt = Date.now();
    await put('acme/web/prod', 'http://192.0.2.2:8080/');
    await eventually(async () => address(await direct('prod.web.acme.tm.internal', 'A')) === '192.0.2.2', 10_000, 'the resolver answering the write');
    const seen: { ms: number; address?: string; ttl: number }[] = [];
    for (;;) {
      const d = await viaUnbound('prod.web.acme.tm.internal', 'A');
      seen.push({ ms: Date.now() - cachedAt, address: address(d), ttl: Number(d.answer[0]?.[1]) });
      if (address(d) === '192.0.2.2' || Date.now() - cachedAt > 3 * TTL_SECONDS * 1000) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const old = seen.filter((s) => s.address === '192.0.2.1');
    const switched = seen.find((s) => s.address === '192.0.2.2');
    // The old address came from the cache while its TTL lasted (its TTL counting down, never up)...
    expect(old.length).toBeGreaterThan(0);
    expect(old.every((s) => s.ttl <= TTL_SECONDS)).toBe(true);
    for (let i = 1; i < old.length; i++) expect(old[i]?.ttl).toBeLessThanOrEqual(old[i - 1]?.ttl as number);
    // ...down to 0, and no longer: then the new address. Unbound counts whole seconds: an entry stored
    // in second S with TTL 3 is served until S + 3 is over (the last second with TTL 0, which no
    // cache after it keeps). The full TTL read at cachedAt means the entry was stored just before, so
    // S ends within a second after cachedAt: the switch comes between TTL and TTL + 1 seconds after
    // cachedAt (300 ms of slack for dig's own time).
    expect(old[old.length - 1]?.ttl).toBe(0);
    expect(switched).toBeDefined();
    expect(switched?.ms).toBeGreaterThanOrEqual(TTL_SECONDS * 1000 - 300);
    expect(switched?.ms).toBeLessThanOrEqual((TTL_SECONDS + 1) * 1000 + 300);
    expect(switched?.ttl).toBeLessThanOrEqual(TTL_SECONDS);
  }, 60_000);

  it('a tenant not open to DNS, or a missing route, is NXDOMAIN through Unbound too', async () => {
    expect((await viaUnbound('prod.web.globex.tm.internal', 'A')).status).toBe('NXDOMAIN');
    expect((await viaUnbound('prod.nothing.acme.tm.internal', 'A')).status).toBe('NXDOMAIN');
    // And nothing outside the zone is resolved (no recursion): refused.
    expect((await viaUnbound('example.com', 'A')).status).toBe('REFUSED');
  });
});
