import { lookup } from 'node:dns/promises';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, isIP, type Socket } from 'node:net';
import { parseStatusRanges, statusExpected, type HealthCheck } from '@tm/contracts';
import type { DenyList } from './deny-list';

/** What one probe found: success, failure (with why), or refused (the address may not be probed). */
export type ProbeResult = { outcome: 'success' } | { outcome: 'failure'; error: string } | { outcome: 'refused'; error: string };

export interface ProbeOptions {
  denyList: DenyList;
  userAgent: string;
  rejectUnauthorized: boolean;
}

/** The addresses of `host` (itself when it is an address), in the resolver's order. */
async function addressesOf(host: string): Promise<string[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare)) return [bare];
  const found = await lookup(bare, { all: true, verbatim: true });
  return found.map((a) => a.address);
}

/**
 * Probes one endpoint once, within the health check's timeout: an HTTP(S) GET of the check's
 * path on the endpoint's origin (no redirect followed: a 3xx is its own status, judged against
 * expectedStatus), or a TCP connect. Nothing of ours is sent: no key, no cookie, only a User-Agent
 * naming the prober. The name is resolved first and every address it has is checked against the deny
 * list; the probe then connects to the checked address, so a name that resolves elsewhere the next
 * time cannot slip past the check.
 */
export async function probe(endpointUrl: string, check: HealthCheck, options: ProbeOptions): Promise<ProbeResult> {
  const timeoutMs = check.timeoutSeconds * 1000;
  const url = new URL(endpointUrl);
  let addresses: string[];
  try {
    addresses = await withTimeout(addressesOf(url.hostname), timeoutMs, `resolving ${url.hostname}`);
  } catch (e) {
    return { outcome: 'failure', error: message(e) };
  }
  for (const address of addresses) {
    const cidr = options.denyList.refuses(address);
    if (cidr !== undefined) return { outcome: 'refused', error: `not probed: ${address} is in ${cidr} (PROBE_DENY_CIDRS)` };
  }
  const address = addresses[0];
  if (address === undefined) return { outcome: 'failure', error: `${url.hostname} has no address` };
  const tls = url.protocol === 'https:';
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  try {
    if (check.type === 'tcp') await tcpConnect(address, port, timeoutMs);
    else {
      const status = await httpGet(url, address, port, check.path ?? '/', timeoutMs, options);
      const ranges = parseStatusRanges(check.expectedStatus ?? '200-299') ?? [[200, 299]];
      if (!statusExpected(ranges, status)) return { outcome: 'failure', error: `HTTP ${status} (expected ${check.expectedStatus ?? '200-299'})` };
    }
    return { outcome: 'success' };
  } catch (e) {
    return { outcome: 'failure', error: message(e) };
  }
}

function message(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms ${what}`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function tcpConnect(address: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: address, port });
    const timer = setTimeout(() => socket.destroy(new Error(`timeout after ${timeoutMs} ms connecting to ${address}:${port}`)), timeoutMs);
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
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
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
