/**
 * Traffic policies (docs/guarantees.md, "Traffic policies and health"): a route holds 1 to 16
 * endpoints, each with a priority, a weight and a state, and optionally one health check that
 * probes them all. This module is the policy's one shape for the command API, the events, the
 * cache, the resolver, the prober and the SDK.
 */

export const ENDPOINT_STATES = ['enabled', 'draining', 'disabled'] as const;
export type EndpointState = (typeof ENDPOINT_STATES)[number];

export const HEALTH_CHECK_TYPES = ['http', 'tcp'] as const;
export type HealthCheckType = (typeof HEALTH_CHECK_TYPES)[number];

/** The id a route given as `{"url"}` calls its one endpoint. */
export const DEFAULT_ENDPOINT_ID = 'default';

/** The bounds and defaults of a policy, as the API documents and checks them. */
export const POLICY_LIMITS = {
  endpoints: { min: 1, max: 16 },
  priority: { min: 1, max: 1000, default: 1 },
  weight: { min: 0, max: 1000, default: 1 },
  state: { default: 'enabled' as EndpointState },
  intervalSeconds: { min: 1, max: 3600, default: 10 },
  /** Default: 5 s, or the interval when that is shorter. */
  timeoutSeconds: { min: 1, default: 5 },
  healthyThreshold: { min: 1, max: 10, default: 2 },
  unhealthyThreshold: { min: 1, max: 10, default: 3 },
  path: { maxLength: 1024, default: '/' },
  expectedStatus: { maxLength: 64, default: '200-299' },
} as const;

/** One endpoint as configured (and as the command API's answers show it). */
export interface EndpointConfig {
  id: string;
  url: string;
  priority: number;
  weight: number;
  state: EndpointState;
}

/** A route's health check, with every default filled in (`path` and `expectedStatus` for http only). */
export interface HealthCheck {
  type: HealthCheckType;
  path?: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  expectedStatus?: string;
}

/** A route's configuration, normalised: every default filled in; no health check is null. */
export interface TrafficPolicy {
  endpoints: EndpointConfig[];
  healthCheck: HealthCheck | null;
}

/**
 * An endpoint as events, the watch and the cache carry it: with the revision where its health
 * began (where its URL or the route's health check last changed, or it was added). Health belongs to
 * (endpoint id, healthRevision): a re-created or re-pointed endpoint starts unknown.
 */
export interface PolicyEndpoint extends EndpointConfig {
  healthRevision: number;
}

/** The route's one endpoint when it is given as `{"url"}`. */
export function singleEndpoint(url: string): EndpointConfig {
  return {
    id: DEFAULT_ENDPOINT_ID,
    url,
    priority: POLICY_LIMITS.priority.default,
    weight: POLICY_LIMITS.weight.default,
    state: POLICY_LIMITS.state.default,
  };
}

/** The policy of a route given as `{"url"}`. */
export function singleUrlPolicy(url: string): TrafficPolicy {
  return { endpoints: [singleEndpoint(url)], healthCheck: null };
}

/** True when the policy says no more than `{"url"}` would (it is stored as the URL alone). */
export function isSingleUrlPolicy(policy: TrafficPolicy): boolean {
  if (policy.healthCheck !== null || policy.endpoints.length !== 1) return false;
  const [only] = policy.endpoints as [EndpointConfig];
  const plain = singleEndpoint(only.url);
  return only.id === plain.id && only.priority === plain.priority && only.weight === plain.weight && only.state === plain.state;
}

/** The order of a selection's tiers, first tier first (see selection.ts): also the order of `url`. */
function tierOf(e: EndpointConfig): number {
  if (e.state === 'enabled') return e.weight > 0 ? 0 : 1;
  return e.state === 'draining' ? 2 : 3;
}

/**
 * The configuration's first choice, health aside: the endpoint the first tier would pick most
 * (lowest priority, then highest weight, then listed first). This is `url` in route answers and
 * events, never null on an upsert, so consumers of the single-URL shape go on working.
 */
export function primaryEndpoint<E extends EndpointConfig>(endpoints: readonly E[]): E {
  let best: E | undefined;
  for (const e of endpoints) {
    if (!best) {
      best = e;
      continue;
    }
    const a = tierOf(e) - tierOf(best) || e.priority - best.priority || best.weight - e.weight;
    if (a < 0) best = e;
  }
  if (!best) throw new Error('a policy has at least one endpoint');
  return best;
}

/** Inclusive status ranges of an `expectedStatus` ("200-299", "200,204", "200-299,304"), or undefined when malformed. */
export function parseStatusRanges(value: string): [number, number][] | undefined {
  if (value.length === 0 || value.length > POLICY_LIMITS.expectedStatus.maxLength) return undefined;
  const ranges: [number, number][] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(\d{3})(?:\s*-\s*(\d{3}))?\s*$/.exec(part);
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 100 || to > 599 || to < from) return undefined;
    ranges.push([from, to]);
  }
  return ranges;
}

/** Whether `status` is in the ranges of parseStatusRanges. */
export function statusExpected(ranges: readonly [number, number][], status: number): boolean {
  return ranges.some(([from, to]) => status >= from && status <= to);
}

/** Why `value` is not a health check path, or undefined: starts with `/`, no fragment, no spaces or controls. */
export function healthPathProblem(value: string): string | undefined {
  if (!value.startsWith('/')) return 'must start with /';
  if (value.length > POLICY_LIMITS.path.maxLength) return `must be at most ${POLICY_LIMITS.path.maxLength} characters`;
  if (value.includes('#')) return 'must not have a fragment';
  if ([...value].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) >= 0x7f)) return 'must be printable ASCII without spaces (percent-encode the rest)';
  return undefined;
}

/**
 * Parses the policy part of an event's (or a cache entry's) data: `endpoints` with their health
 * revisions and `healthCheck`. An event of the single-URL shape (from a command API older than
 * policies, during a rolling upgrade) has neither: its one endpoint is `default`, its health began
 * at the event's revision. Undefined when the fields are there but malformed.
 */
export function policyOfData(data: { url: string; revision: number; endpoints?: unknown; healthCheck?: unknown }):
  | { endpoints: PolicyEndpoint[]; healthCheck: HealthCheck | null }
  | undefined {
  if (data.endpoints === undefined) {
    if (data.healthCheck !== undefined && data.healthCheck !== null) return undefined;
    return { endpoints: [{ ...singleEndpoint(data.url), healthRevision: data.revision }], healthCheck: null };
  }
  if (!Array.isArray(data.endpoints) || data.endpoints.length < 1 || data.endpoints.length > POLICY_LIMITS.endpoints.max) return undefined;
  const endpoints: PolicyEndpoint[] = [];
  for (const raw of data.endpoints as unknown[]) {
    if (typeof raw !== 'object' || raw === null) return undefined;
    const e = raw as Partial<PolicyEndpoint>;
    if (typeof e.id !== 'string' || typeof e.url !== 'string') return undefined;
    const { priority, weight, state } = e;
    if (priority === undefined || weight === undefined || !Number.isSafeInteger(priority) || !Number.isSafeInteger(weight)) return undefined;
    if (state === undefined || !ENDPOINT_STATES.includes(state)) return undefined;
    const healthRevision = e.healthRevision ?? data.revision;
    if (!Number.isSafeInteger(healthRevision)) return undefined;
    endpoints.push({ id: e.id, url: e.url, priority, weight, state, healthRevision });
  }
  const hc = data.healthCheck ?? null;
  if (hc !== null) {
    if (typeof hc !== 'object') return undefined;
    const h = hc as Partial<HealthCheck>;
    if (!HEALTH_CHECK_TYPES.includes(h.type as HealthCheckType)) return undefined;
    for (const n of [h.intervalSeconds, h.timeoutSeconds, h.healthyThreshold, h.unhealthyThreshold]) {
      if (!Number.isSafeInteger(n) || (n as number) < 1) return undefined;
    }
  }
  return { endpoints, healthCheck: hc as HealthCheck | null };
}

/** Strips the health revisions: the configuration as the command API shows it. */
export function endpointConfigs(endpoints: readonly EndpointConfig[]): EndpointConfig[] {
  return endpoints.map(({ id, url, priority, weight, state }) => ({ id, url, priority, weight, state }));
}

/**
 * The OpenAPI 3.0 schema of a route's health check as answers show it (null: not probed), inline
 * so that `nullable` applies (a nullable $ref is not expressible in OpenAPI 3.0).
 */
export const HEALTH_CHECK_SCHEMA = {
  type: 'object',
  nullable: true,
  description: 'null: not probed (every endpoint unknown)',
  required: ['type', 'intervalSeconds', 'timeoutSeconds', 'healthyThreshold', 'unhealthyThreshold'],
  properties: {
    type: { type: 'string', enum: [...HEALTH_CHECK_TYPES] },
    path: { type: 'string', description: 'http only', example: '/healthz' },
    intervalSeconds: { type: 'integer', example: 10 },
    timeoutSeconds: { type: 'integer', example: 5 },
    healthyThreshold: { type: 'integer', example: 2 },
    unhealthyThreshold: { type: 'integer', example: 3 },
    expectedStatus: { type: 'string', description: 'http only', example: '200-299' },
  },
};

/** A health check as a PUT may give it: every field optional (the command API fills in its defaults). */
export interface HealthCheckInput {
  type?: HealthCheckType | undefined;
  path?: string | undefined;
  intervalSeconds?: number | undefined;
  timeoutSeconds?: number | undefined;
  healthyThreshold?: number | undefined;
  unhealthyThreshold?: number | undefined;
  expectedStatus?: string | undefined;
}

/** An endpoint as a PUT may give it (priority 1, weight 1, enabled by default). */
export interface EndpointInput {
  id: string;
  url: string;
  priority?: number | undefined;
  weight?: number | undefined;
  state?: EndpointState | undefined;
}

/** A route PUT body as a client writes it: one URL, or endpoints with their defaults left out; either with a health check. */
export interface PolicyInput {
  url?: string | undefined;
  endpoints?: readonly EndpointInput[] | undefined;
  healthCheck?: HealthCheckInput | null | undefined;
}

/**
 * The policy a valid PUT body sets, every default filled in as the command API fills them (the
 * default timeout: 5 s, or the interval when shorter, or `maxTimeoutSeconds` when lower still): what
 * its answers show and what it compares a write against ("unchanged").
 */
export function normalisedPolicy(body: PolicyInput, maxTimeoutSeconds = Number.POSITIVE_INFINITY): TrafficPolicy {
  const L = POLICY_LIMITS;
  const endpoints: EndpointConfig[] = body.endpoints
    ? body.endpoints.map((e) => ({ id: e.id, url: e.url, priority: e.priority ?? L.priority.default, weight: e.weight ?? L.weight.default, state: e.state ?? L.state.default }))
    : [singleEndpoint(body.url as string)];
  const hc = body.healthCheck;
  if (!hc) return { endpoints, healthCheck: null };
  const type = hc.type ?? 'http';
  const intervalSeconds = hc.intervalSeconds ?? L.intervalSeconds.default;
  const check: HealthCheck = {
    type,
    intervalSeconds,
    timeoutSeconds: hc.timeoutSeconds ?? Math.min(L.timeoutSeconds.default, intervalSeconds, maxTimeoutSeconds),
    healthyThreshold: hc.healthyThreshold ?? L.healthyThreshold.default,
    unhealthyThreshold: hc.unhealthyThreshold ?? L.unhealthyThreshold.default,
  };
  if (type === 'http') {
    check.path = hc.path ?? L.path.default;
    check.expectedStatus = hc.expectedStatus ?? L.expectedStatus.default;
  }
  return { endpoints, healthCheck: check };
}
