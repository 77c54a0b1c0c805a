import type { Health } from './selection';

/**
 * One prober replica's verdict on one endpoint (at one health revision), as it keeps it in Redis.
 * `unknown`: the prober has no verdict yet (fewer probes than a threshold) or may not probe the
 * endpoint (an address it refuses); it then counts for neither side.
 */
export interface Verdict {
  prober: string;
  health: Health;
  /** Since when this prober has held this verdict (ms since the epoch, the Redis server's clock). */
  since: number;
  /** When its last probe ended (ms since the epoch). */
  probedAt: number;
  /** The last probe's error, if it failed (or why the endpoint is not probed). */
  error: string | null;
  /** When the last failed probe ended. */
  errorAt: number | null;
  /** The probe timeout this prober used, in seconds (the health check's, or less: capped by the interval and PROBE_MAX_TIMEOUT_SECONDS); null or absent when the prober did not say. */
  timeoutSeconds?: number | null;
}

export interface EndpointHealth {
  health: Health;
  /** Since when the endpoint has had this health (RFC 3339), or null when nothing has been decided since its health began. */
  since: string | null;
  /** The last probe error any prober saw, and when. */
  lastError: { message: string; at: string; prober: string } | null;
  /** How many fresh verdicts there are, and of them how many say healthy and unhealthy. */
  verdicts: { fresh: number; healthy: number; unhealthy: number };
}

/**
 * The health of an endpoint from its fresh verdicts (expired ones are already left out): `healthy`
 * or `unhealthy` only when a strict majority of the verdicts that say either says so, otherwise
 * `unknown` (eligible). Each prober applies the thresholds itself (hysteresis both ways), so a verdict
 * moves only after that many probes in a row agree. `decided` is the record the probers keep of when
 * the aggregate last changed: its time is the answer's `since` while it still holds.
 */
export function aggregateHealth(verdicts: readonly Verdict[], decided?: { health: Health; since: number }): EndpointHealth {
  const { healthy, unhealthy } = count(verdicts);
  const health = majorityHealth(verdicts);
  let lastError: EndpointHealth['lastError'] = null;
  for (const v of verdicts) {
    if (v.error !== null && v.errorAt !== null && (lastError === null || v.errorAt > Date.parse(lastError.at))) {
      lastError = { message: v.error, at: new Date(v.errorAt).toISOString(), prober: v.prober };
    }
  }
  let since: string | null = null;
  if (decided && decided.health === health) since = new Date(decided.since).toISOString();
  else if (health !== 'unknown') {
    // The majority without a record yet: it holds since the latest of the verdicts that make it.
    const agreeing = verdicts.filter((v) => v.health === health).map((v) => v.since);
    since = new Date(Math.max(...agreeing)).toISOString();
  }
  return { health, since, lastError, verdicts: { fresh: verdicts.length, healthy, unhealthy } };
}

function count(verdicts: readonly Verdict[]): { healthy: number; unhealthy: number } {
  let healthy = 0;
  let unhealthy = 0;
  for (const v of verdicts) {
    if (v.health === 'healthy') healthy++;
    else if (v.health === 'unhealthy') unhealthy++;
  }
  return { healthy, unhealthy };
}

/** The health alone (what selection needs on every answer): the strict majority of the verdicts that take a side. */
export function majorityHealth(verdicts: readonly Verdict[]): Health {
  const { healthy, unhealthy } = count(verdicts);
  const voting = healthy + unhealthy;
  return healthy * 2 > voting ? 'healthy' : unhealthy * 2 > voting ? 'unhealthy' : 'unknown';
}

/** A health change as the watch sends it (`event: health`, no id line). Health takes no revision. */
export interface HealthEventData {
  tenant: string;
  service: string;
  environment: string;
  endpoint: string;
  health: Health;
  since: string | null;
}
