import { DEFAULT_ENDPOINT_ID, isSingleUrlPolicy, singleEndpoint, type HealthCheck, type PolicyEndpoint, type RouteId } from '@tm/contracts';

/**
 * A route's Redis Cluster hash tag, `{<tenant>/<service>/<environment>}`: every key of a route
 * carries it, so they all live in one slot (a script may touch several of them). Names cannot hold
 * braces and the prefix cannot either, so this is the key's first `{...}`.
 */
export function routeHashTag(id: RouteId): string {
  return `{${id.tenant}/${id.service}/${id.environment}}`;
}

/** The cache key of a route: `<prefix>route:{<tenant>/<service>/<environment>}`. */
export function routeCacheKey(prefix: string, id: RouteId): string {
  return routeScopedKey(prefix, 'route', id);
}

/**
 * A per-route key of another kind, in the route's slot: `<prefix><kind>:{<tenant>/<service>/<environment>}[:<suffix>]`
 * (for example the health verdicts of an endpoint, `<prefix>health:{t/s/e}:<endpoint>`).
 */
export function routeScopedKey(prefix: string, kind: string, id: RouteId, suffix?: string): string {
  return `${prefix}${kind}:${routeHashTag(id)}${suffix === undefined ? '' : `:${suffix}`}`;
}

/** The route key (`tenant/service/environment`) of a cache key made by routeCacheKey, or undefined. */
export function routeKeyOfCacheKey(prefix: string, key: string): string | undefined {
  const m = /^route:\{([^{}]+)\}$/.exec(key.startsWith(prefix) ? key.slice(prefix.length) : '');
  return m?.[1];
}

/** A route as the cache holds it: its URL (the first choice), revision and policy. */
export interface CachedRoute {
  url: string;
  revision: number;
  endpoints: PolicyEndpoint[];
  healthCheck: HealthCheck | null;
  /** The id of its tenant; undefined when the writer did not know it (an older event). */
  tenantId?: string;
}

/** A route to cache; without `endpoints` it is its URL alone (a single-URL event, an older writer). */
export interface RouteToCache {
  url: string;
  revision: number;
  endpoints?: PolicyEndpoint[];
  healthCheck?: HealthCheck | null;
  tenantId?: string;
}

/**
 * The `pol` field of a route's hash: the policy as JSON, or '' when the route is its URL alone
 * (endpoint `default`, health from the route's revision), which is most routes: they cost nothing more.
 */
export function encodePolicy(route: RouteToCache): string {
  const endpoints = route.endpoints;
  if (!endpoints) return '';
  const healthCheck = route.healthCheck ?? null;
  const only = endpoints.length === 1 ? endpoints[0] : undefined;
  if (only && only.id === DEFAULT_ENDPOINT_ID && only.healthRevision === route.revision && isSingleUrlPolicy({ endpoints, healthCheck })) return '';
  return JSON.stringify({ endpoints, healthCheck });
}

type ParsedPolicy = { endpoints: PolicyEndpoint[]; healthCheck: HealthCheck | null };

/**
 * How much policy JSON (in characters) the parsed-policy cache holds: 8 Mi. The heap it takes is
 * 2 to 2.4 times that (the text, as the key, and the parsed objects; measured): at most about
 * 20 MB, under a tenth of the resolver's 256 MiB limit. A policy is at most about 34 K (16 endpoints
 * of 2,048-character URLs), so it holds about 245 of the largest; a common one is a few hundred
 * characters, so about 20,000 of those (the count bound this replaced was 10,000, of any size).
 */
export const PARSED_POLICY_BUDGET = 8 * 1024 * 1024;

/**
 * Parsed policies by their JSON: every hit of a route would otherwise parse the same text again.
 * A hit is one Map lookup; a miss adds its policy and drops the oldest added until the JSON held is
 * within PARSED_POLICY_BUDGET.
 */
const parsed = new Map<string, ParsedPolicy>();
let parsedChars = 0;

function rememberParsed(pol: string, policy: ParsedPolicy): void {
  if (pol.length > PARSED_POLICY_BUDGET) return;
  parsed.set(pol, policy);
  parsedChars += pol.length;
  for (const oldest of parsed.keys()) {
    if (parsedChars <= PARSED_POLICY_BUDGET) break;
    parsed.delete(oldest);
    parsedChars -= oldest.length;
  }
}

/** What the parsed-policy cache holds (for tests and measurements). */
export function parsedPolicyCacheSize(): { policies: number; chars: number } {
  return { policies: parsed.size, chars: parsedChars };
}

/** The policy of a cached route from its `pol` field (see encodePolicy); undefined when malformed. */
export function decodePolicy(pol: string | undefined, url: string, revision: number): ParsedPolicy | undefined {
  if (pol === undefined || pol === '') return { endpoints: [{ ...singleEndpoint(url), healthRevision: revision }], healthCheck: null };
  const known = parsed.get(pol);
  if (known) return known;
  let value: { endpoints?: unknown; healthCheck?: unknown };
  try {
    value = JSON.parse(pol) as typeof value;
  } catch {
    return undefined;
  }
  if (!Array.isArray(value.endpoints) || value.endpoints.length === 0) return undefined;
  const policy = { endpoints: value.endpoints as PolicyEndpoint[], healthCheck: (value.healthCheck ?? null) as HealthCheck | null };
  rememberParsed(pol, policy);
  return policy;
}

export interface CachedAnswer {
  /** The route (URL, revision, policy); null when the cached answer is "no such route". */
  route: CachedRoute | null;
  /** The store revision the answer reflects. */
  asOf: number;
  /** When the answer was known current (ms since the epoch, on the database's clock). */
  knownAt: number;
  /** Marked not fresh by an event (invalidate mode). */
  invalidated: boolean;
}

/** The answer in a route's hash (HGETALL), or undefined when there is none (no key, or a fence only). */
export function parseEntry(hash: Record<string, string>): CachedAnswer | undefined {
  const state = hash['s'];
  if (state !== 'p' && state !== 'a') return undefined;
  const asOf = Number(hash['asof']);
  const knownAt = Number(hash['t']);
  if (!Number.isFinite(asOf) || !Number.isFinite(knownAt)) return undefined;
  if (state === 'p') {
    const url = hash['u'];
    const revision = Number(hash['r']);
    if (url === undefined || !Number.isFinite(revision)) return undefined;
    const policy = decodePolicy(hash['pol'], url, revision);
    if (!policy) return undefined;
    // Always the same shape (tenantId may be undefined): the hit path reads many of these.
    return { route: { url, revision, endpoints: policy.endpoints, healthCheck: policy.healthCheck, tenantId: hash['tid'] }, asOf, knownAt, invalidated: hash['inv'] === '1' };
  }
  return { route: null, asOf, knownAt, invalidated: hash['inv'] === '1' };
}

export interface FreshnessPolicy {
  /** How long an answer stays fresh (CACHE_TTL_SECONDS, at most 60 s). */
  ttlMs: number;
  /** How long a "no such route" answer stays fresh (at most 5 s). */
  negativeTtlMs: number;
}

/**
 * Milliseconds of freshness left (<= 0: not fresh) and the answer's age, at `now` (the database's
 * time, as `knownAt` is). An answer known current from a time after `now` (a database clock that
 * stepped back, an event stamped ahead) is not fresh: a time from the future would otherwise keep
 * it fresh for as long as the future lasts. It is read again, and the fill restamps it.
 */
export function freshness(entry: Omit<CachedAnswer, 'route'> & { route: unknown }, policy: FreshnessPolicy, now: number): { leftMs: number; ageMs: number } {
  const ageMs = Math.max(0, now - entry.knownAt);
  const ttl = entry.route === null ? Math.min(policy.ttlMs, policy.negativeTtlMs) : policy.ttlMs;
  const fromTheFuture = entry.knownAt > now;
  return { leftMs: entry.invalidated || fromTheFuture ? 0 : ttl - ageMs, ageMs };
}
