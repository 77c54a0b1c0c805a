import { lookup } from 'node:dns/promises';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, isIP, type Socket } from 'node:net';
import { parseStatusRanges, statusExpected, type HealthCheck } from '@tm/contracts';
import type { AddressRules } from './address-rules';

/**
 * What one probe found: success, failure (with why), or refused (the address may not be probed).
 * An error names the class of failure and the status, never an address: the tenant reads it in the
 * health answer, and a resolved address or a system message that embeds one would map the inside.
 */
export type ProbeResult = { outcome: 'success' } | { outcome: 'failure'; error: string } | { outcome: 'refused'; error: string };

export interface ProbeOptions {
  rules: AddressRules;
  userAgent: string;
  rejectUnauthorized: boolean;
  /** The timeout to probe with, in seconds (the check's, capped: see effectiveTimeoutSeconds). */
  timeoutSeconds: number;
}

/** The timeout a probe of `check` runs with: its own, but never above the interval nor PROBE_MAX_TIMEOUT_SECONDS. */
export function effectiveTimeoutSeconds(check: HealthCheck, maxTimeoutSeconds: number): number {
  return Math.max(1, Math.min(check.timeoutSeconds, check.intervalSeconds, maxTimeoutSeconds));
}

/** The probe's own deadline passed (name resolution, connection and response together). */
class ProbeTimeout extends Error {}

/** The addresses of `host` (itself when it is an address), in the resolver's order. */
async function addressesOf(host: string): Promise<string[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare)) return [bare];
  const found = await lookup(bare, { all: true, verbatim: true });
  return found.map((a) => a.address);
}

/**
 * Probes one endpoint once, within the timeout (name resolution included): an HTTP(S) GET of the
 * check's path on the endpoint's origin (no redirect followed: a 3xx is its own status, judged
 * against expectedStatus), or a TCP connect. Nothing of ours is sent: no key, no cookie, only a
 * User-Agent naming the prober. The name is resolved first and every address it has is checked
 * against the address rules; the probe then connects to the checked address, so a name that
 * resolves elsewhere the next time cannot slip past the check. (The URL parser has already
 * normalised every spelling of an IPv4 literal: 2130706433, 0177.0.0.1, 0x7f.1 and 127.1 are all
 * 127.0.0.1 here.)
 */
export async function probe(endpointUrl: string, check: HealthCheck, options: ProbeOptions): Promise<ProbeResult> {
  const deadline = performance.now() + options.timeoutSeconds * 1000;
  const left = () => Math.max(1, deadline - performance.now());
  let url: URL;
  try {
    url = new URL(endpointUrl);
  } catch {
    return { outcome: 'failure', error: 'not a URL' };
  }
  let addresses: string[];
  try {
    addresses = await withTimeout(addressesOf(url.hostname), left());
  } catch (e) {
    return { outcome: 'failure', error: failureOf(e, options.timeoutSeconds) };
  }
  for (const address of addresses) {
    const refusal = options.rules.refuses(address);
    if (refusal !== undefined) return { outcome: 'refused', error: refusal };
  }
  const address = addresses[0];
  if (address === undefined) return { outcome: 'failure', error: 'name did not resolve' };
  const tls = url.protocol === 'https:';
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  try {
    if (check.type === 'tcp') await tcpConnect(address, port, left());
    else {
      const status = await httpGet(url, address, port, check.path ?? '/', left(), options);
      const ranges = parseStatusRanges(check.expectedStatus ?? '200-299') ?? [[200, 299]];
      if (!statusExpected(ranges, status)) return { outcome: 'failure', error: `HTTP ${status} (expected ${check.expectedStatus ?? '200-299'})` };
    }
    return { outcome: 'success' };
  } catch (e) {
    return { outcome: 'failure', error: failureOf(e, options.timeoutSeconds) };
  }
}

const FAILURES_BY_CODE: Readonly<Record<string, string>> = {
  ENOTFOUND: 'name did not resolve',
  ENODATA: 'name did not resolve',
  EAI_NONAME: 'name did not resolve',
  EAI_NODATA: 'name did not resolve',
  EAI_AGAIN: 'name resolution failed (temporary)',
  ESERVFAIL: 'name resolution failed (temporary)',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  EHOSTDOWN: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EADDRNOTAVAIL: 'address not available',
};

/**
 * The failure of a probe as `lastError` says it: a class and a stable code, never the system's
 * message (`connect ECONNREFUSED 10.0.3.7:8080` names the address; a TLS name mismatch names it too).
 */
export function failureOf(e: unknown, timeoutSeconds: number): string {
  if (e instanceof ProbeTimeout) return `timeout after ${timeoutSeconds} s`;
  const code = typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
  if (code === undefined || !/^[A-Z][A-Z0-9_]{1,60}$/.test(code)) return 'probe failed';
  const known = FAILURES_BY_CODE[code];
  if (known) return known;
  if (code.startsWith('HPE_')) return `invalid HTTP response (${code})`;
  if (/^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_OSSL_)/.test(code)) return `TLS: ${code}`;
  return `probe failed (${code})`;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeTimeout()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function tcpConnect(address: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: address, port });
    const timer = setTimeout(() => socket.destroy(new ProbeTimeout()), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** GETs `path` on the endpoint's origin at `address`; resolves with the status once the headers arrive. */
function httpGet(url: URL, address: string, port: number, path: string, timeoutMs: number, options: ProbeOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const tls = url.protocol === 'https:';
    const hostHeader = url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
    const servername = isIP(url.hostname.replace(/^\[|\]$/g, '')) ? undefined : url.hostname;
    const req: ClientRequest = (tls ? httpsRequest : httpRequest)({
      host: address,
      port,
      path,
      method: 'GET',
      agent: false,
      headers: { host: hostHeader, 'user-agent': options.userAgent, accept: '*/*', connection: 'close' },
      ...(tls ? { servername, rejectUnauthorized: options.rejectUnauthorized } : {}),
    });
    const timer = setTimeout(() => req.destroy(new ProbeTimeout()), timeoutMs);
    req.once('response', (res) => {
      clearTimeout(timer);
      const status = res.statusCode ?? 0;
      res.destroy();
      resolve(status);
    });
    req.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}
