import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as packet from 'dns-packet';
import type { Answer as Record_, SrvAnswer } from 'dns-packet';
import { FaultProxy, dnsQuery, freeDnsPort, testInfra, type TestAnswer } from '@tm/testing';
import type { TrafficPolicy } from '@tm/contracts';
import { ResolverUnderTest } from '../resolver.test-support';
import { DnsServer } from './dns-server';

const ZONE = 'tm.internal';
const CHECK = { type: 'http' as const, path: '/healthz', intervalSeconds: 2, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 1, expectedStatus: '200-299' };
const ep = (id: string, url: string, extra: Partial<TrafficPolicy['endpoints'][number]> = {}) => ({ id, url, priority: 1, weight: 1, state: 'enabled' as const, ...extra });

const types = (records: Record_[] | undefined) => (records ?? []).map((r) => r.type);
const dataOf = (record: Record_ | undefined): unknown => (record && 'data' in record ? record.data : undefined);
const ttls = (records: Record_[] | undefined) => (records ?? []).map((r) => ('ttl' in r ? r.ttl : undefined));

/**
 * The resolver's DNS server in-process against real PostgreSQL and Redis (docs/dns.md): records, codes,
 * TTLs bounded by freshness, tenants opened and closed, sizes, and degradation. Queries are made with
 * dns-packet here; the end-to-end test asks with dig and Node's resolver.
 */
describe('DNS in the resolver', () => {
  let r: ResolverUnderTest;
  let port: number;
  const ask = (name: string, type: packet.RecordType | 'ANY' = 'A', more: { tcp?: boolean; udpSize?: number } = {}): Promise<TestAnswer> => dnsQuery(port, { name, type, ...more });

  beforeAll(async () => {
    port = await freeDnsPort();
    r = await ResolverUnderTest.start({ env: { RESOLVER_DNS_PORT: String(port), DNS_TTL_SECONDS: '30', CACHE_TTL_SECONDS: '20', AUTH_CACHE_TTL_MS: '300', DNS_TCP_IDLE_MS: '1000' } });
    await r.openToDns('acme');
    await r.write('acme/web/prod', 'http://10.1.2.3:8080/');
    await r.write('acme/api/prod', 'https://api.acme.example/v1');
    await r.write('acme/six/prod', 'https://[2001:db8::7]/');
    await r.write('globex/web/prod', 'http://10.9.9.9/');
  });
  afterAll(async () => {
    await r?.stop();
  });

  it('answers a route whose endpoint is an IP literal with A (or AAAA), authoritative, with a TTL within the freshness left', async () => {
    const a = await ask('prod.web.acme.tm.internal');
    expect(a).toMatchObject({ rcode: 'NOERROR', flag_aa: true, flag_qr: true, flag_ra: false });
    expect(a.answers).toEqual([expect.objectContaining({ type: 'A', name: 'prod.web.acme.tm.internal', data: '10.1.2.3' })]);
    // CACHE_TTL_SECONDS (20) is below DNS_TTL_SECONDS (30): the answer's freshness bounds its TTL.
    expect(ttls(a.answers)[0]).toBeLessThanOrEqual(20);
    const six = await ask('prod.six.acme.tm.internal', 'AAAA');
    expect(six.answers).toEqual([expect.objectContaining({ type: 'AAAA', data: '2001:db8::7' })]);
    // Another family at the name: NODATA, the zone's SOA in the authority section.
    const none = await ask('prod.web.acme.tm.internal', 'AAAA');
    expect(none).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(types(none.authorities)).toEqual(['SOA']);
  });

  it('answers a route whose endpoint is a host name with a CNAME, whatever the type asked', async () => {
    for (const type of ['A', 'AAAA', 'CNAME', 'TXT'] as const) {
      const a = await ask('prod.api.acme.tm.internal', type);
      expect(a.answers).toEqual([expect.objectContaining({ type: 'CNAME', data: 'api.acme.example' })]);
    }
  });

  it('names are case-blind and the answer repeats the question as asked', async () => {
    const a = await ask('PrOd.WeB.aCmE.Tm.InTeRnAl');
    expect(a.questions?.[0]?.name).toBe('PrOd.WeB.aCmE.Tm.InTeRnAl');
    expect(a.answers?.[0]).toMatchObject({ name: 'PrOd.WeB.aCmE.Tm.InTeRnAl', data: '10.1.2.3' });
  });

  it('a missing route and a tenant not open to DNS answer the same NXDOMAIN with the SOA; outside the zone REFUSED', async () => {
    const missing = await ask('prod.nothing.acme.tm.internal');
    const closed = await ask('prod.web.globex.tm.internal');
    const unknown = await ask('prod.web.nobody.tm.internal');
    for (const a of [missing, closed, unknown]) {
      expect(a).toMatchObject({ rcode: 'NXDOMAIN', flag_aa: true, answers: [] });
      expect(a.authorities).toEqual([expect.objectContaining({ type: 'SOA', name: ZONE })]);
      expect(ttls(a.authorities)[0]).toBeLessThanOrEqual(5);
    }
    expect(await ask('example.com')).toMatchObject({ rcode: 'REFUSED', flag_aa: false, answers: [] });
  });

  it('the apex has SOA and NS; a tenant and a service name exist without records; ANY is minimal', async () => {
    const soa = await ask(ZONE, 'SOA');
    expect(soa.answers).toEqual([expect.objectContaining({ type: 'SOA', data: expect.objectContaining({ mname: ZONE, rname: `hostmaster.${ZONE}` }) })]);
    expect((await ask(ZONE, 'NS')).answers).toEqual([expect.objectContaining({ type: 'NS', data: ZONE })]);
    expect(await ask('web.acme.tm.internal')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(await ask('acme.tm.internal', 'TXT')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    const any = await ask('prod.web.acme.tm.internal', 'ANY');
    expect(types(any.answers)).toEqual(['A']);
  });

  it('SRV lists every selectable endpoint ranked as the selection tries them; TXT gives the pick and the revision', async () => {
    const written = await r.writePolicy('acme/pool/prod', {
      endpoints: [
        ep('a', 'http://10.0.0.1:8080/', { weight: 3 }),
        ep('b', 'http://b.acme.example:9090/', { weight: 1 }),
        ep('c', 'http://10.0.0.3/', { priority: 2 }),
        ep('standby', 'http://10.0.0.4/', { weight: 0 }),
        ep('old', 'http://10.0.0.5/', { state: 'draining' }),
        ep('off', 'http://10.0.0.6/', { state: 'disabled' }),
        ep('tls', 'https://10.0.0.7/'),
      ],
      healthCheck: null,
    });
    const srv = await ask('_http._tcp.prod.pool.acme.tm.internal', 'SRV', { tcp: true });
    const records = (srv.answers ?? []) as SrvAnswer[];
    expect(records.map((s) => [s.data.priority, s.data.weight, s.data.port, s.data.target])).toEqual([
      [1, 3, 8080, 'a.ep.prod.pool.acme.tm.internal'],
      [1, 1, 9090, 'b.acme.example'],
      [2, 1, 80, 'c.ep.prod.pool.acme.tm.internal'],
      [3, 0, 80, 'standby.ep.prod.pool.acme.tm.internal'],
      [4, 1, 80, 'old.ep.prod.pool.acme.tm.internal'],
    ]);
    expect((srv.additionals ?? []).filter((x) => x.type === 'A').map((x) => [x.name, dataOf(x)])).toEqual([
      ['a.ep.prod.pool.acme.tm.internal', '10.0.0.1'],
      ['c.ep.prod.pool.acme.tm.internal', '10.0.0.3'],
      ['standby.ep.prod.pool.acme.tm.internal', '10.0.0.4'],
      ['old.ep.prod.pool.acme.tm.internal', '10.0.0.5'],
    ]);
    const https = ((await ask('_https._tcp.prod.pool.acme.tm.internal', 'SRV')).answers ?? []) as SrvAnswer[];
    expect(https.map((s) => [s.data.priority, s.data.port, s.data.target])).toEqual([[1, 443, 'tls.ep.prod.pool.acme.tm.internal']]);
    expect((await ask('c.ep.prod.pool.acme.tm.internal')).answers).toEqual([expect.objectContaining({ type: 'A', data: '10.0.0.3' })]);
    expect((await ask('off.ep.prod.pool.acme.tm.internal')).rcode).toBe('NXDOMAIN');
    const txt = await ask('_http._tcp.prod.pool.acme.tm.internal', 'TXT');
    const strings = (dataOf(txt.answers?.[0]) as Buffer[]).map(String);
    // The route's pick, as HTTP answers it, whatever its scheme (the first tier holds a, b and tls).
    expect(strings[0]).toMatch(/^url=(http:\/\/10\.0\.0\.1:8080|http:\/\/b\.acme\.example:9090|https:\/\/10\.0\.0\.7)\/$/);
    expect(strings[1]).toBe(`revision=${written.data.revision}`);
    // No endpoint of a scheme: the name does not exist.
    expect((await ask('_https._tcp.prod.web.acme.tm.internal', 'SRV')).rcode).toBe('NXDOMAIN');
  });

  it('a route with no endpoint enabled or draining answers NODATA', async () => {
    await r.writePolicy('acme/dark/prod', { endpoints: [ep('x', 'http://10.0.0.9/', { state: 'disabled' })], healthCheck: null });
    const a = await ask('prod.dark.acme.tm.internal');
    expect(a).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(types(a.authorities)).toEqual(['SOA']);
  });

  it("a probed route's TTL is at most its probe interval", async () => {
    await r.writePolicy('acme/probed/prod', { endpoints: [ep('a', 'http://10.0.1.1/')], healthCheck: CHECK });
    const a = await ask('prod.probed.acme.tm.internal');
    expect(a.answers?.[0]).toMatchObject({ type: 'A', data: '10.0.1.1' });
    expect(ttls(a.answers)[0]).toBeLessThanOrEqual(CHECK.intervalSeconds);
  });

  it('over UDP an answer larger than 512 bytes (or the EDNS size) is truncated, and whole over TCP; EDNS is answered with EDNS', async () => {
    await r.writePolicy('acme/big/prod', {
      endpoints: Array.from({ length: 16 }, (_, i) => ep(`endpoint-${String(i).padStart(2, '0')}`, `http://10.2.0.${i + 1}:8080/`)),
      healthCheck: null,
    });
    const name = '_http._tcp.prod.big.acme.tm.internal';
    const udp = await ask(name, 'SRV');
    expect(udp).toMatchObject({ flag_tc: true, answers: [] });
    const tcp = await ask(name, 'SRV', { tcp: true });
    expect(tcp.flag_tc).toBe(false);
    expect(tcp.answers).toHaveLength(16);
    expect(tcp.additionals).toHaveLength(16);
    const edns = await ask('prod.web.acme.tm.internal', 'A', { udpSize: 4096 });
    expect(edns.additionals).toEqual([expect.objectContaining({ type: 'OPT', udpPayloadSize: 1232 })]);
    // 1232 bytes hold 16 SRV records without their additional records: still truncated.
    expect((await ask(name, 'SRV', { udpSize: 4096 })).flag_tc).toBe(true);
  });

  it('a tenant opened or closed is learned within AUTH_CACHE_TTL_MS, with no write', async () => {
    expect((await ask('prod.web.globex.tm.internal')).rcode).toBe('NXDOMAIN');
    await r.db.query('UPDATE tenants SET dns = true WHERE slug = $1', ['globex']);
    await eventually(async () => dataOf((await ask('prod.web.globex.tm.internal')).answers?.[0]) === '10.9.9.9', 5_000);
    await r.db.query('UPDATE tenants SET dns = false WHERE slug = $1', ['globex']);
    await eventually(async () => (await ask('prod.web.globex.tm.internal')).rcode === 'NXDOMAIN', 5_000);
  });

  it('refuses what it does not serve: another opcode NOTIMP, two questions or a second OPT FORMERR, EDNS version 1 BADVERS, zone transfers REFUSED', async () => {
    const base = { type: 'query' as const, id: 7, questions: [{ name: 'prod.web.acme.tm.internal', type: 'A' as const, class: 'IN' as const }] };
    const notify = packet.encode({ ...base, flags: 4 << 11 });
    expect((await dnsQuery(port, { name: '', raw: notify })).rcode).toBe('NOTIMP');
    const two = packet.encode({ ...base, questions: [...base.questions, ...base.questions] });
    expect((await dnsQuery(port, { name: '', raw: two })).rcode).toBe('FORMERR');
    const opt = { type: 'OPT' as const, name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 1, flags: 0, flag_do: false, options: [] };
    const badvers = await dnsQuery(port, { name: '', raw: packet.encode({ ...base, additionals: [opt] }) });
    expect(badvers.additionals).toEqual([expect.objectContaining({ type: 'OPT', extendedRcode: 1 })]);
    expect((await dnsQuery(port, { name: '', raw: packet.encode({ ...base, additionals: [{ ...opt, ednsVersion: 0 }, { ...opt, ednsVersion: 0 }] }) })).rcode).toBe('FORMERR');
    expect((await ask(ZONE, 'AXFR', { tcp: true })).rcode).toBe('REFUSED');
  });

  it('a URL longer than one TXT string spans several; a host that is no DNS name is not answered', async () => {
    const long = `http://10.7.7.7/${'p'.repeat(600)}`;
    await r.write('acme/long/prod', long);
    const txt = await ask('_http._tcp.prod.long.acme.tm.internal', 'TXT', { tcp: true });
    const strings = (dataOf(txt.answers?.[0]) as Buffer[]).map(String);
    expect(strings.length).toBe(4);
    expect(strings.slice(0, 3).join('')).toBe(`url=${long}`);
    expect(strings[3]).toMatch(/^revision=\d+$/);
    await r.write('acme/label/prod', `https://${'x'.repeat(64)}.acme.example/`);
    const a = await ask('prod.label.acme.tm.internal');
    expect(a).toMatchObject({ rcode: 'NOERROR', answers: [] });
  });

  it('over TCP: a client that half-closes still gets its answers; a message begun and not finished is cut after DNS_TCP_IDLE_MS', async () => {
    const query = packet.encode({ type: 'query', id: 1, questions: [{ name: 'prod.web.acme.tm.internal', type: 'A', class: 'IN' }] });
    const framed = Buffer.concat([Buffer.from([0, query.length]), query, Buffer.from([0, query.length]), query]);
    const answers = await new Promise<number>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let got = Buffer.alloc(0);
      socket.on('data', (c: Buffer) => (got = Buffer.concat([got, c])));
      socket.on('end', () => {
        let n = 0;
        for (let at = 0; at + 2 <= got.length; at += 2 + got.readUInt16BE(at)) n++;
        resolve(n);
      });
      socket.on('error', reject);
      socket.end(framed);
    });
    expect(answers).toBe(2);
    // Bytes dribbled one at a time keep no connection: the message must be whole within DNS_TCP_IDLE_MS (1 s here).
    const began = Date.now();
    const closed = await new Promise<number>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.write(Buffer.from([0, 200]));
      const dribble = setInterval(() => socket.write(Buffer.from([0])), 200);
      socket.on('close', () => {
        clearInterval(dribble);
        resolve(Date.now() - began);
      });
      socket.on('error', () => undefined);
    });
    expect(closed).toBeGreaterThanOrEqual(900);
    await eventually(async () => /^tm_dns_tcp_connections(\{[^}]*\})? 0$/m.test((await r.app.inject({ method: 'GET', url: '/metrics' })).body), 5_000);
  });

  it('a datagram from port 0 (a forged source) is dropped, and the server goes on', async () => {
    const server = r.app.get(DnsServer) as unknown as { onDatagram(m: Buffer, remote: { address: string; port: number; family: string; size: number }): Promise<void> };
    const query = packet.encode({ type: 'query', id: 3, questions: [{ name: 'prod.web.acme.tm.internal', type: 'A', class: 'IN' }] });
    await expect(server.onDatagram(query, { address: '127.0.0.1', port: 0, family: 'IPv4', size: query.length })).resolves.toBeUndefined();
    expect((await ask('prod.web.acme.tm.internal')).answers?.[0]).toMatchObject({ data: '10.1.2.3' });
  });

  it('reports queries by transport, type and rcode at /metrics', async () => {
    const res = await r.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.body).toMatch(/^tm_dns_queries_total\{transport="udp",type="A",rcode="NOERROR"[^}]*\} \d+/m);
    expect(res.body).toMatch(/^tm_dns_queries_total\{transport="tcp",type="SRV",rcode="NOERROR"[^}]*\} \d+/m);
    expect(res.body).toMatch(/^tm_dns_queries_total\{transport="udp",type="A",rcode="NXDOMAIN"[^}]*\} \d+/m);
    expect(res.body).toMatch(/^tm_dns_truncated_total\{transport="udp"[^}]*\} \d+/m);
  });

  it('knows its port (the configured one)', () => {
    expect(r.app.get(DnsServer).port).toBe(port);
  });
});

describe('DNS degradation', () => {
  it('PostgreSQL down: a cached route is answered with TTL 0 once past its freshness, an uncached one SERVFAIL; back: normal', async () => {
    let proxy: FaultProxy | undefined;
    const port = await freeDnsPort();
    const r = await ResolverUnderTest.start({
      databaseUrl: async (url) => {
        const fronted = await FaultProxy.forUrl(url);
        proxy = fronted.proxy;
        return fronted.url;
      },
      env: { RESOLVER_DNS_PORT: String(port), CACHE_TTL_SECONDS: '1', AUTH_CACHE_TTL_MS: '200' },
    });
    try {
      await r.openToDns('acme');
      await r.write('acme/web/prod', 'http://10.1.1.1/');
      await r.write('acme/cold/prod', 'http://10.1.1.2/');
      const warm = await dnsQuery(port, { name: 'prod.web.acme.tm.internal' });
      expect(warm.answers?.[0]).toMatchObject({ data: '10.1.1.1' });
      proxy?.refuse();
      // Past the entry's freshness (CACHE_TTL_SECONDS=1) and the tenants' list refresh (200 ms), which keeps the last list.
      await new Promise((res) => setTimeout(res, 1_300));
      const stale = await dnsQuery(port, { name: 'prod.web.acme.tm.internal' });
      expect(stale).toMatchObject({ rcode: 'NOERROR', answers: [expect.objectContaining({ data: '10.1.1.1', ttl: 0 })] });
      expect((await dnsQuery(port, { name: 'prod.cold.acme.tm.internal' }, 10_000)).rcode).toBe('SERVFAIL');
      proxy?.restore();
      await eventually(async () => dataOf((await dnsQuery(port, { name: 'prod.cold.acme.tm.internal' }, 10_000)).answers?.[0]) === '10.1.1.2', 15_000);
    } finally {
      await r.stop();
      await proxy?.stop();
    }
  });

  it('Redis down: answers come from the database', async () => {
    const fronted = await FaultProxy.forUrl(testInfra().redisUrl);
    const port = await freeDnsPort();
    const r = await ResolverUnderTest.start({ redisUrl: fronted.url, env: { RESOLVER_DNS_PORT: String(port), REDIS_BREAKER_THRESHOLD: '2', REDIS_BREAKER_OPEN_MS: '200' } });
    try {
      await r.openToDns('acme');
      await r.write('acme/web/prod', 'http://10.3.3.3/');
      fronted.proxy.refuse();
      await r.redisGone();
      for (let i = 0; i < 5; i++) expect((await dnsQuery(port, { name: 'prod.web.acme.tm.internal' }, 5_000)).answers?.[0]).toMatchObject({ data: '10.3.3.3' });
    } finally {
      await r.stop();
      await fronted.proxy.stop();
    }
  });
});

describe('DNS response rate limiting (DNS_RRL_PER_SECOND)', () => {
  it('past the rate, one source gets one answer in two truncated and empty and the rest dropped; TCP is not limited', async () => {
    const port = await freeDnsPort();
    const r = await ResolverUnderTest.start({ env: { RESOLVER_DNS_PORT: String(port), DNS_RRL_PER_SECOND: '5' } });
    const counted = async () => {
      const text = (await r.app.inject({ method: 'GET', url: '/metrics' })).body;
      const sum = (re: RegExp) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
      return {
        answered: sum(/^tm_dns_queries_total\{transport="udp"[^}]*\} (\d+)/gm),
        slipped: sum(/^tm_dns_truncated_total\{transport="udp"[^}]*\} (\d+)/gm),
        dropped: sum(/^tm_dns_dropped_total\{reason="rate_limited"[^}]*\} (\d+)/gm),
      };
    };
    try {
      await r.openToDns('acme');
      await r.write('acme/web/prod', 'http://10.6.6.6/');
      const socket = createSocket('udp4');
      const replies: TestAnswer[] = [];
      socket.on('message', (m) => replies.push(packet.decode(m) as TestAnswer));
      await new Promise<void>((res) => socket.bind(0, '127.0.0.1', () => res()));
      // 41 queries at once from one source: 5 answered, then slip, drop, slip, ... (about 18 each).
      const began = performance.now();
      for (let id = 0; id < 41; id++) {
        const q = packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ name: 'prod.web.acme.tm.internal', type: 'A', class: 'IN' }] });
        await new Promise<void>((res) => socket.send(q, port, '127.0.0.1', () => res()));
      }
      // Every query reached the server: answered (whole or slipped) or dropped, as its metrics count them.
      await eventually(async () => {
        const c = await counted();
        return c.answered + c.dropped === 41;
      }, 10_000);
      const windowSeconds = (performance.now() - began) / 1000;
      const { answered, slipped, dropped } = await counted();
      socket.close();
      const whole = answered - slipped;
      // The bucket refills at 5 a second: never more whole answers than the burst's time allows.
      expect(whole).toBeGreaterThanOrEqual(5);
      expect(whole).toBeLessThanOrEqual(5 + Math.ceil(windowSeconds * 5));
      // Past the rate, slips and drops alternate.
      expect(Math.abs(slipped - dropped)).toBeLessThanOrEqual(whole);
      expect(dropped).toBeGreaterThan(0);
      // What arrived: the whole answers carry the record, the slipped ones are truncated and empty.
      expect(replies.filter((a) => !a.flag_tc).every((a) => a.answers?.[0]?.type === 'A')).toBe(true);
      expect(replies.filter((a) => a.flag_tc).every((a) => (a.answers ?? []).length === 0)).toBe(true);
      // Over TCP the same source is answered whole.
      expect((await dnsQuery(port, { name: 'prod.web.acme.tm.internal', tcp: true })).answers?.[0]).toMatchObject({ data: '10.6.6.6' });
    } finally {
      await r.stop();
    }
  });
});

async function eventually(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
