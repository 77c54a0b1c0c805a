import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { HealthCheck } from '@tm/contracts';
import { AddressRules } from './address-rules';
import { effectiveTimeoutSeconds, failureOf, probe, type ProbeOptions } from './probe';

const CHECK: HealthCheck = { type: 'http', path: '/healthz', intervalSeconds: 10, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 };

function options(allowLoopback: boolean): ProbeOptions {
  return {
    rules: new AddressRules({ PROBE_ALLOW_LOOPBACK: allowLoopback, PROBE_DENY_CIDRS: '', PROBE_ALLOW_CIDRS: '' }),
    userAgent: 'traffic-manager-health-prober/1 (test)',
    rejectUnauthorized: true,
    timeoutSeconds: 1,
  };
}

/**
 * probe() against a server of this test on 127.0.0.1: every spelling of a loopback or metadata
 * address that the URL parser or name resolution lets through is refused before anything is sent,
 * and what a failure says names no address.
 */
describe('probe', () => {
  let server: Server;
  let port: number;
  let status = 200;
  const connections: Socket[] = [];
  beforeAll(async () => {
    server = createServer((_req, res) => {
      if (status === 0) return; // never answers
      res.writeHead(status).end();
    });
    server.on('connection', (s: Socket) => connections.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    status = 200;
    connections.length = 0;
  });

  it.each([
    ['decimal', 'http://2130706433:PORT/'],
    ['octal', 'http://0177.0.0.1:PORT/'],
    ['hex', 'http://0x7f.0.0.1:PORT/'],
    ['hex, one part', 'http://0x7f000001:PORT/'],
    ['short', 'http://127.1:PORT/'],
    ['IPv4-mapped IPv6', 'http://[::ffff:127.0.0.1]:PORT/'],
    ['IPv4-mapped IPv6, hex', 'http://[::ffff:7f00:1]:PORT/'],
    ['IPv6 loopback', 'http://[::1]:PORT/'],
    ['a name (localhost)', 'http://localhost:PORT/'],
  ])('refuses loopback spelled %s, and sends nothing', async (_spelling, url) => {
    const result = await probe(url.replace('PORT', String(port)), CHECK, options(false));
    expect(result).toEqual({ outcome: 'refused', error: 'refused: loopback address (PROBE_ALLOW_LOOPBACK is off)' });
    expect(connections).toHaveLength(0);
  });

  it.each([
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://2852039166/', 'metadata'],
    ['http://0xa9.0xfe.0xa9.0xfe/', 'metadata'],
    ['http://0251.0376.0251.0376/', 'metadata'],
    ['http://[::ffff:169.254.169.254]/', 'metadata'],
    ['http://[64:ff9b::a9fe:a9fe]/', 'metadata'],
    ['http://100.100.100.200/', 'metadata'],
    ['http://[fd00:ec2::254]/', 'metadata'],
    ['http://0/', 'unspecified'],
    ['http://0.0.0.0:PORT/', 'unspecified'],
    ['http://[::]:PORT/', 'unspecified'],
    ['http://[::ffff:0.0.0.0]:PORT/', 'unspecified'],
    ['http://169.254.10.10/', 'link-local'],
    ['http://[fe80::1]/', 'link-local'],
  ])('refuses %s (%s) whatever the configuration, and sends nothing', async (url, what) => {
    for (const allowLoopback of [false, true]) {
      const result = await probe(url.replace('PORT', String(port)), CHECK, options(allowLoopback));
      expect(result).toEqual({ outcome: 'refused', error: `refused: ${what} address` });
    }
    expect(connections).toHaveLength(0);
  });

  it('probes loopback when PROBE_ALLOW_LOOPBACK is on, in every spelling', async () => {
    for (const host of ['127.0.0.1', '2130706433', '127.1', '[::ffff:127.0.0.1]', 'localhost']) {
      expect(await probe(`http://${host}:${port}/`, CHECK, options(true))).toEqual({ outcome: 'success' });
    }
  });

  it('says what failed without an address: a status, a refused connection, a timeout, a name that does not resolve', async () => {
    status = 503;
    expect(await probe(`http://127.0.0.1:${port}/`, CHECK, options(true))).toEqual({ outcome: 'failure', error: 'HTTP 503 (expected 200-299)' });
    status = 0;
    expect(await probe(`http://127.0.0.1:${port}/`, CHECK, options(true))).toEqual({ outcome: 'failure', error: 'timeout after 1 s' });
    // A port nothing listens on: the one this server had before it moves (a closed listener).
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await probe(`http://127.0.0.1:${closedPort}/`, CHECK, options(true))).toEqual({ outcome: 'failure', error: 'connection refused' });
    expect(await probe(`http://127.0.0.1:${closedPort}/`, { ...CHECK, type: 'tcp' }, options(true))).toEqual({ outcome: 'failure', error: 'connection refused' });
    // .invalid never resolves (RFC 2606); without a DNS server at all it is a temporary failure.
    const unresolved = await probe('http://no-such-host.invalid/', CHECK, options(true));
    expect(unresolved).toEqual({ outcome: 'failure', error: expect.stringMatching(/^name (did not resolve|resolution failed \(temporary\))$|^timeout after 1 s$/) as unknown });
  });

  it('failureOf keeps a stable code and drops the message (which may name the address)', () => {
    const err = (code: string | undefined, message: string) => Object.assign(new Error(message), code === undefined ? {} : { code });
    expect(failureOf(err('ECONNREFUSED', 'connect ECONNREFUSED 10.0.3.7:8080'), 10)).toBe('connection refused');
    expect(failureOf(err('EHOSTUNREACH', 'connect EHOSTUNREACH 10.0.3.7:8080'), 10)).toBe('host unreachable');
    expect(failureOf(err('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: IP: 10.0.3.7 is not in the cert's list"), 10)).toBe(
      'TLS: ERR_TLS_CERT_ALTNAME_INVALID',
    );
    expect(failureOf(err('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), 10)).toBe('TLS: DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(failureOf(err('HPE_INVALID_CONSTANT', 'Parse Error: Expected HTTP/'), 10)).toBe('invalid HTTP response (HPE_INVALID_CONSTANT)');
    expect(failureOf(err('ESOMETHING', 'at 10.0.3.7'), 10)).toBe('probe failed (ESOMETHING)');
    expect(failureOf(err(undefined, 'at 10.0.3.7'), 10)).toBe('probe failed');
    expect(failureOf(err('10.0.3.7', 'at 10.0.3.7'), 10)).toBe('probe failed');
  });

  it('probes with the timeout capped by the interval and PROBE_MAX_TIMEOUT_SECONDS', () => {
    expect(effectiveTimeoutSeconds({ ...CHECK, intervalSeconds: 60, timeoutSeconds: 30 }, 10)).toBe(10);
    expect(effectiveTimeoutSeconds({ ...CHECK, intervalSeconds: 5, timeoutSeconds: 8 }, 10)).toBe(5);
    expect(effectiveTimeoutSeconds({ ...CHECK, intervalSeconds: 60, timeoutSeconds: 3 }, 10)).toBe(3);
  });
});
