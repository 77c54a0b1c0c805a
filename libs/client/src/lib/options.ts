import { MAX_STALENESS_MS } from '@tm/contracts';
import { TrafficManagerError } from './errors';

export interface TrafficManagerClientOptions {
  /** The resolver's base URL (`http://resolver:3001`): resolves and watches. */
  resolverUrl: string;
  /** The command API's base URL (`http://command-api:3000`): needed for writes only. */
  commandUrl?: string | undefined;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string | undefined;
  /** The most staleness a memory answer may have, 1..60000 ms (default 60000). */
  maxStalenessMs?: number | undefined;
  /** How old the last known answer may be to be served (source `stale`) when the resolver is unreachable; 0 (default) turns it off. */
  staleIfErrorMs?: number | undefined;
  /** Per-call deadline (default 2000 ms); each call may pass its own. */
  timeoutMs?: number | undefined;
  /** How many tenants' watches are kept open; the least recently used is closed past it (default 64). */
  maxTenants?: number | undefined;
  /** false: no watches, no memory answers; every lookup asks the resolver (default true). */
  watch?: boolean | undefined;
  /** How long a lookup waits for its tenant's watch to become usable before asking the resolver (default 250 ms, at most half the call's timeout). */
  watchWaitMs?: number | undefined;
}

export interface ResolvedOptions {
  resolverUrl: string;
  commandUrl: string | undefined;
  apiKey: string | undefined;
  maxStalenessMs: number;
  staleIfErrorMs: number;
  timeoutMs: number;
  maxTenants: number;
  watch: boolean;
  watchWaitMs: number;
}

function invalid(option: string, expected: string, value: unknown): TrafficManagerError {
  return new TrafficManagerError('invalid_config', `${option} must be ${expected} (got ${JSON.stringify(value) ?? String(value)})`);
}

/** A base URL without its trailing slash; http or https only. */
export function baseUrl(option: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid(option, 'an http(s) URL', value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(option, 'an http(s) URL', value);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') throw invalid(option, 'an http(s) URL', value);
  if (url.search || url.hash || url.username || url.password) throw invalid(option, 'an http(s) URL without query, fragment or user info', value);
  return url.href.replace(/\/+$/, '');
}

function integer(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(option, `a whole number from ${min} to ${max}`, value);
  }
  return value;
}

const DAY_MS = 86_400_000;

export function resolveOptions(options: TrafficManagerClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  const apiKey = options.apiKey;
  if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey === '' || /[\r\n]/.test(apiKey))) {
    throw new TrafficManagerError('invalid_config', 'apiKey must be a non-empty string on one line');
  }
  if (options.watch !== undefined && typeof options.watch !== 'boolean') throw invalid('watch', 'a boolean', options.watch);
  return {
    resolverUrl: baseUrl('resolverUrl', options.resolverUrl),
    commandUrl: options.commandUrl === undefined ? undefined : baseUrl('commandUrl', options.commandUrl),
    apiKey,
    maxStalenessMs: integer('maxStalenessMs', options.maxStalenessMs, MAX_STALENESS_MS, 1, MAX_STALENESS_MS),
    staleIfErrorMs: integer('staleIfErrorMs', options.staleIfErrorMs, 0, 0, 7 * DAY_MS),
    timeoutMs: integer('timeoutMs', options.timeoutMs, 2000, 1, 10 * 60_000),
    maxTenants: integer('maxTenants', options.maxTenants, 64, 1, 100_000),
    watch: options.watch ?? true,
    watchWaitMs: integer('watchWaitMs', options.watchWaitMs, 250, 0, 60_000),
  };
}
