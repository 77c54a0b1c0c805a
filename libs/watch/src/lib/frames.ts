import {
  HEALTH_VALUES,
  policyOfData,
  routeKey,
  type Health,
  type HealthCheck,
  type PolicyEndpoint,
  type RouteEvent,
  type WatchBookmark,
} from '@tm/contracts';

/** The route state a `put` or `delete` frame carries (its CloudEvent's data, the policy read). */
export interface RouteChange {
  tenant: string;
  service: string;
  environment: string;
  /** `tenant/service/environment`. */
  key: string;
  /** The configuration's first choice; null when the route is deleted. */
  url: string | null;
  revision: number;
  /** The route's endpoints ([] when deleted; one endpoint for an event of the single-URL shape). */
  endpoints: PolicyEndpoint[];
  healthCheck: HealthCheck | null;
  /** The CloudEvent as sent (its `id`, `subject`, `time`...). */
  event: RouteEvent;
}

/** The data of an `event: health` frame. */
export interface HealthChange {
  tenant: string;
  service: string;
  environment: string;
  endpoint: string;
  health: Health;
  /** The health revision it belongs to. */
  healthRevision: number;
  /** Epoch ms since when; undefined when the frame gives none. */
  since: number | undefined;
}

function json(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

/** The route of a put or delete frame's data (a CloudEvent); undefined when it is not one. */
export function parseChange(data: string): RouteChange | undefined {
  const event = json(data) as Partial<RouteEvent> | null | undefined;
  const d = event?.data;
  if (typeof d !== 'object' || d === null) return undefined;
  if (typeof d.tenant !== 'string' || typeof d.service !== 'string' || typeof d.environment !== 'string') return undefined;
  if (!Number.isSafeInteger(d.revision) || (d.url !== null && typeof d.url !== 'string')) return undefined;
  const base = { tenant: d.tenant, service: d.service, environment: d.environment, key: routeKey(d), url: d.url, revision: d.revision, event: event as RouteEvent };
  if (d.url === null) return { ...base, endpoints: [], healthCheck: null };
  // The policy (an event of the single-URL shape, from an older server, is its URL alone).
  const policy = policyOfData({ url: d.url, revision: d.revision, endpoints: d.endpoints, healthCheck: d.healthCheck });
  if (!policy) return undefined;
  return { ...base, endpoints: policy.endpoints, healthCheck: policy.healthCheck };
}

/** A bookmark frame's data; undefined when it is not one. */
export function parseBookmark(data: string): WatchBookmark | undefined {
  const b = json(data) as Partial<WatchBookmark> | null | undefined;
  if (typeof b !== 'object' || b === null || !Number.isSafeInteger(b.revision) || typeof b.ageMs !== 'number' || !Number.isFinite(b.ageMs)) {
    return undefined;
  }
  return { revision: b.revision as number, ageMs: b.ageMs, knownCurrentAt: String(b.knownCurrentAt ?? ''), snapshot: b.snapshot === true };
}

/** A health frame's data; undefined when it is not one. */
export function parseHealth(data: string): HealthChange | undefined {
  const h = json(data) as Partial<Record<keyof HealthChange, unknown>> | null | undefined;
  if (typeof h !== 'object' || h === null) return undefined;
  if (typeof h.tenant !== 'string' || typeof h.service !== 'string' || typeof h.environment !== 'string' || typeof h.endpoint !== 'string') return undefined;
  if (!HEALTH_VALUES.includes(h.health as Health) || !Number.isSafeInteger(h.healthRevision)) return undefined;
  const since = typeof h.since === 'string' ? Date.parse(h.since) : NaN;
  return {
    tenant: h.tenant,
    service: h.service,
    environment: h.environment,
    endpoint: h.endpoint,
    health: h.health as Health,
    healthRevision: h.healthRevision as number,
    since: Number.isFinite(since) ? since : undefined,
  };
}
