import { Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_ADMIN_TOKEN, TestStack } from '@tm/testing';
import { dig as digAt, digRaw, type Dug } from './dig';
import { EndpointServer } from './endpoint-server';
import { eventually } from './support';

const ZONE = 'tm.internal';
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
const CHECK = { path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 1 };

/**
 * DNS against the real stack, asked by clients nobody here wrote (docs/dns.md): dig (Debian's
 * bind9-dnsutils) for every record type and code, truncation and the TCP retry, and EDNS; Node's
 * resolver (c-ares) for A, CNAME, SRV and TXT; 10,000 A queries of a weighted route; and the probers
 * moving the answer from a failed primary to its backup.
 */
describe('DNS (dig and Node against the real stack)', () => {
  let stack: TestStack;
  let port: number;
  const servers: EndpointServer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tm-dns-e2e-'));

  const dig = (...args: string[]): Promise<Dug> => digAt(port, ...args);
  const put = async (route: string, body: unknown): Promise<number> => {
    const res = await fetch(`${stack.app('command-api').url}/v1/routes/${route}`, { method: 'PUT', headers: auth, body: JSON.stringify(body) });
    expect([200, 201]).toContain(res.status);
    return Number(res.headers.get('x-route-revision'));
  };
  const openToDns = async (tenant: string, dns: boolean) => {
    const res = await fetch(`${stack.app('command-api').url}/v1/tenants/${tenant}`, { method: 'PATCH', headers: auth, body: JSON.stringify({ dns }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ slug: tenant, dns });
  };

  beforeAll(async () => {
    stack = await TestStack.start({ env: { AUTH_CACHE_TTL_MS: '1000' } });
    port = stack.dnsPort;
    await stack.startProbers(2, () => ({ PROBE_MAX_TIMEOUT_SECONDS: '1' }));
    await put('acme/web/prod', { url: 'http://10.1.2.3:8080/' });
    await put('acme/six/prod', { url: 'https://[2001:db8::7]/' });
    await put('acme/api/prod', { url: 'https://api.acme.example/v1' });
    await put('acme/pool/prod', {
      endpoints: [
        { id: 'a', url: 'http://10.0.0.1:8080/', weight: 3 },
        { id: 'b', url: 'http://b.acme.example:9090/', weight: 1 },
        { id: 'c', url: 'http://10.0.0.3/', priority: 2 },
        { id: 'standby', url: 'http://10.0.0.4/', weight: 0 },
        { id: 'old', url: 'http://10.0.0.5/', state: 'draining' },
      ],
    });
    await put('acme/big/prod', { endpoints: Array.from({ length: 16 }, (_, i) => ({ id: `endpoint-${i}`, url: `http://10.2.0.${i + 1}:8080/` })) });
    await put('globex/web/prod', { url: 'http://10.9.9.9/' });
    await openToDns('acme', true);
    await eventually(async () => (await dig('prod.web.acme.tm.internal', 'A')).status === 'NOERROR', 15_000, 'acme open to DNS');
  }, 240_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('dig: A, AAAA, CNAME, TXT, SRV, SOA, NS and ANY, authoritative, no recursion, TTLs within DNS_TTL_SECONDS', async () => {
    const a = await dig('prod.web.acme.tm.internal', 'A');
    expect(a.status).toBe('NOERROR');
    expect(a.flags).toEqual(expect.arrayContaining(['qr', 'aa']));
    expect(a.flags).not.toContain('ra');
    expect(a.answer).toEqual([['prod.web.acme.tm.internal.', expect.any(String), 'IN', 'A', '10.1.2.3']]);
    expect(Number(a.answer[0]?.[1])).toBeLessThanOrEqual(5);
    expect((await dig('prod.six.acme.tm.internal', 'AAAA')).answer).toEqual([['prod.six.acme.tm.internal.', expect.any(String), 'IN', 'AAAA', '2001:db8::7']]);
    expect((await dig('prod.api.acme.tm.internal', 'CNAME')).answer).toEqual([['prod.api.acme.tm.internal.', expect.any(String), 'IN', 'CNAME', 'api.acme.example.']]);
    const srv = await dig('_http._tcp.prod.pool.acme.tm.internal', 'SRV');
    expect(srv.answer.map((r) => r.slice(4))).toEqual([
      ['1', '3', '8080', 'a.ep.prod.pool.acme.tm.internal.'],
      ['1', '1', '9090', 'b.acme.example.'],
      ['2', '1', '80', 'c.ep.prod.pool.acme.tm.internal.'],
      ['3', '0', '80', 'standby.ep.prod.pool.acme.tm.internal.'],
      ['4', '1', '80', 'old.ep.prod.pool.acme.tm.internal.'],
    ]);
    expect(srv.additional.filter((r) => r[3] === 'A').map((r) => [r[0], r[4]])).toEqual([
      ['a.ep.prod.pool.acme.tm.internal.', '10.0.0.1'],
      ['c.ep.prod.pool.acme.tm.internal.', '10.0.0.3'],
      ['standby.ep.prod.pool.acme.tm.internal.', '10.0.0.4'],
      ['old.ep.prod.pool.acme.tm.internal.', '10.0.0.5'],
    ]);
    const txt = await dig('_http._tcp.prod.pool.acme.tm.internal', 'TXT');
    expect(txt.answer[0]?.slice(3, 4)).toEqual(['TXT']);
    expect(txt.answer[0]?.slice(4).join(' ')).toMatch(/^"url=http:\/\/(10\.0\.0\.1:8080|b\.acme\.example:9090)\/" "revision=\d+"$/);
    expect((await dig(ZONE, 'SOA')).answer[0]?.slice(3, 6)).toEqual(['SOA', `${ZONE}.`, `hostmaster.${ZONE}.`]);
    expect((await dig(ZONE, 'NS')).answer).toEqual([[`${ZONE}.`, expect.any(String), 'IN', 'NS', `${ZONE}.`]]);
    // ANY: a minimal answer (RFC 8482), one record set.
    expect((await dig('prod.web.acme.tm.internal', 'ANY')).answer.map((r) => r[3])).toEqual(['A']);
  });

  it('dig: NXDOMAIN for a missing route and a closed tenant alike, NODATA, REFUSED outside the zone', async () => {
    const missing = await dig('prod.nothing.acme.tm.internal', 'A');
    const closed = await dig('prod.web.globex.tm.internal', 'A');
    for (const d of [missing, closed]) {
      expect(d.status).toBe('NXDOMAIN');
      expect(d.answer).toEqual([]);
      expect(d.authority.map((r) => [r[0], r[3]])).toEqual([[`${ZONE}.`, 'SOA']]);
      expect(Number(d.authority[0]?.[1])).toBeLessThanOrEqual(5);
    }
    const nodata = await dig('prod.web.acme.tm.internal', 'AAAA');
    expect(nodata.status).toBe('NOERROR');
    expect(nodata.answer).toEqual([]);
    expect(nodata.authority.map((r) => r[3])).toEqual(['SOA']);
    const refused = await dig('example.com', 'A');
    expect(refused.status).toBe('REFUSED');
    expect(refused.flags).not.toContain('aa');
  });

  it('dig: an answer too large for UDP comes truncated (TC), dig retries over TCP and gets it whole; +tcp directly too', async () => {
    const name = '_http._tcp.prod.big.acme.tm.internal';
    const truncated = await dig('+noedns', '+ignore', name, 'SRV');
    expect(truncated.flags).toContain('tc');
    expect(truncated.answer).toEqual([]);
    const retried = await dig('+noedns', name, 'SRV');
    expect(retried.text).toMatch(/Truncated, retrying in TCP mode/);
    expect(retried.flags).not.toContain('tc');
    expect(retried.answer).toHaveLength(16);
    expect((await dig('+tcp', name, 'SRV')).answer).toHaveLength(16);
  });

  it('dig: EDNS(0) is answered with our UDP size; another EDNS version gets BADVERS', async () => {
    const edns = await dig('+edns=0', '+bufsize=4096', 'prod.web.acme.tm.internal', 'A');
    expect(edns.text).toMatch(/; EDNS: version: 0, flags:; udp: 1232/);
    expect(edns.answer).toHaveLength(1);
    const badvers = await dig('+edns=1', '+noednsneg', 'prod.web.acme.tm.internal', 'A');
    expect(badvers.status).toBe('BADVERS');
  });

  it("Node's resolver: A, CNAME, and SRV and TXT at the _<scheme>._tcp name", async () => {
    const resolver = new Resolver({ timeout: 3_000, tries: 2 });
    resolver.setServers([`127.0.0.1:${port}`]);
    expect(await resolver.resolve4('prod.web.acme.tm.internal')).toEqual(['10.1.2.3']);
    expect(await resolver.resolveCname('prod.api.acme.tm.internal')).toEqual(['api.acme.example']);
    const srv = await resolver.resolveSrv('_http._tcp.prod.pool.acme.tm.internal');
    expect(srv.map((s) => [s.priority, s.weight, s.port, s.name])).toEqual([
      [1, 3, 8080, 'a.ep.prod.pool.acme.tm.internal'],
      [1, 1, 9090, 'b.acme.example'],
      [2, 1, 80, 'c.ep.prod.pool.acme.tm.internal'],
      [3, 0, 80, 'standby.ep.prod.pool.acme.tm.internal'],
      [4, 1, 80, 'old.ep.prod.pool.acme.tm.internal'],
    ]);
    expect(await resolver.resolve4('c.ep.prod.pool.acme.tm.internal')).toEqual(['10.0.0.3']);
    const [txt] = await resolver.resolveTxt('_http._tcp.prod.pool.acme.tm.internal');
    expect(txt?.[0]).toMatch(/^url=http:\/\//);
    expect(txt?.[1]).toMatch(/^revision=\d+$/);
    await expect(resolver.resolve4('prod.web.globex.tm.internal')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('10,000 A queries of a weighted route split within 2% of its weights, one pick per query', async () => {
    await put('acme/split/prod', {
      endpoints: [
        { id: 'heavy', url: 'http://10.5.0.1/', weight: 3 },
        { id: 'light', url: 'http://10.5.0.2/', weight: 1 },
      ],
    });
    const queries = 10_000;
    const file = join(dir, 'split.txt');
    writeFileSync(file, Array.from({ length: queries }, () => 'prod.split.acme.tm.internal A\n').join(''));
    const stdout = await digRaw(['@127.0.0.1', '-p', String(port), '+short', '+time=3', '+tries=3', '-f', file], 300_000);
    const answers = stdout.split('\n').filter(Boolean);
    expect(answers).toHaveLength(queries);
    const heavy = answers.filter((a) => a === '10.5.0.1').length / queries;
    const light = answers.filter((a) => a === '10.5.0.2').length / queries;
    expect(heavy + light).toBe(1);
    expect(Math.abs(heavy - 0.75)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(light - 0.25)).toBeLessThanOrEqual(0.02);
  }, 300_000);

  it('failover: once the probers mark the primary down, dig answers the backup, and SRV ranks it first; all down: every endpoint, one rank', async () => {
    const primary = await new EndpointServer('127.0.0.1').start();
    const backup = await new EndpointServer('127.0.0.2').start();
    servers.push(primary, backup);
    await put('acme/fo/prod', {
      endpoints: [
        { id: 'primary', url: primary.url('127.0.0.1'), priority: 1 },
        { id: 'backup', url: backup.url('127.0.0.2'), priority: 2 },
      ],
      healthCheck: CHECK,
    });
    const a = async () => (await dig('prod.fo.acme.tm.internal', 'A')).answer.map((r) => r[4]);
    const ranks = async () => (await dig('_http._tcp.prod.fo.acme.tm.internal', 'SRV')).answer.map((r) => `${r[4]} ${r[7]}`);
    await eventually(async () => (await a())[0] === '127.0.0.1', 20_000, 'the primary answered');
    primary.status = 500;
    await eventually(async () => (await a())[0] === '127.0.0.2', 30_000, 'dig answers the backup');
    expect(await ranks()).toEqual(['1 backup.ep.prod.fo.acme.tm.internal.']);
    // A TTL never outlives the probe interval: a cache in front would follow within a second.
    expect(Number((await dig('prod.fo.acme.tm.internal', 'A')).answer[0]?.[1])).toBeLessThanOrEqual(CHECK.intervalSeconds);
    backup.status = 500;
    await eventually(async () => (await ranks()).length === 2, 30_000, 'fail open');
    expect((await ranks()).sort()).toEqual(['1 backup.ep.prod.fo.acme.tm.internal.', '1 primary.ep.prod.fo.acme.tm.internal.']);
    primary.status = 200;
    await eventually(async () => (await a())[0] === '127.0.0.1', 30_000, 'the primary back');
  }, 180_000);

  it('a tenant closed again is NXDOMAIN within AUTH_CACHE_TTL_MS, with no write', async () => {
    await openToDns('globex', true);
    await eventually(async () => (await dig('prod.web.globex.tm.internal', 'A')).answer[0]?.[4] === '10.9.9.9', 10_000, 'globex opened');
    await openToDns('globex', false);
    await eventually(async () => (await dig('prod.web.globex.tm.internal', 'A')).status === 'NXDOMAIN', 10_000, 'globex closed');
  });
});
