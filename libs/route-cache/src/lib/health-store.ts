import { aggregateHealth, majorityHealth, type EndpointHealth, type Health, type RouteId, type Verdict } from '@tm/contracts';
import { withDeadline } from './deadline';
import { routeScopedKey } from './entry';
import type { RedisClient } from './redis.module';

/**
 * Endpoint health in Redis (docs/guarantees.md, "Traffic policies and health"): available and fast,
 * no revisions. One hash per route, `<prefix>health:{t/s/e}`, in the route's slot (so the resolver
 * reads it with the route's cache entry in one script), with fields:
 *
 *   v|<endpoint>|<healthRevision>|<prober>  one prober's verdict: "<expiresAtMs> <json>", json
 *                                           {h, since, at, err, errAt, to}; `to`: the probe timeout
 *                                           it used, in seconds (absent from older probers); expired
 *                                           ones are left out by every reader and removed by the next write
 *   d|<endpoint>|<healthRevision>           the aggregate as the probers last decided it, {h, since, u}:
 *                                           when it changed (`since`), and the change event; valid
 *                                           until `u` (see VERDICT_SCRIPT, health-scripts.ts)

 * and beside it the summary `<prefix>healthsum:{t/s/e}` (same slot), which the resolver's hit path
 * reads instead of the verdicts: "<endpoint>|<rev>=<health> ...", every endpoint's majority (healthy
 * or unhealthy; absent: unknown), written by every verdict write and expiring (in Redis, on its
 * clock) when the first of the verdicts that make it does: until then only a write, which writes it
 * again, can change a majority.
 *
 * Health belongs to (endpoint id, health revision): a re-created or re-pointed endpoint has a new
 * health revision, so none of the old verdicts count for it. Every time is the Redis server's
 * clock (TIME), the one clock that every prober and reader shares here.
 */

export function healthKey(prefix: string, id: RouteId): string {
  return routeScopedKey(prefix, 'health', id);
}

export function healthSummaryKey(prefix: string, id: RouteId): string {
  return routeScopedKey(prefix, 'healthsum', id);
}

/** The channel health changes are published on (the resolvers' watch streams relay them). */
export function healthChannel(prefix: string): string {
  return `${prefix}health-events`;
}

interface StoredVerdict {
  h: Health;
  since: number;
  at: number;
  err?: string | null;
  errAt?: number | null;
  to?: number;
}

/**
 * A decided record (`d|`): the health, a moment within it (`since`), and `until`, before which only
 * a write can change the health (null: no expiry can; undefined: a record of an older writer, which
 * proves nothing).
 */
export interface DecidedHealth {
  health: Health;
  since: number;
  until?: number | null;
}

/** One endpoint's fresh health at one health revision. */
export interface EndpointRecords {
  verdicts: Verdict[];
  decided?: DecidedHealth;
  /** The first expiry of its fresh verdicts that take a side: an expiry may change its health then, with no write. */
  lapse?: number;
}

/** The fresh health of a route's endpoints, by `<endpoint>|<healthRevision>`. */
export type HealthRecords = Map<string, EndpointRecords>;

/** No health known: every endpoint unknown (Redis down, or nothing probed yet). */
export const NO_HEALTH: HealthRecords = new Map();

/** A route's health as one read saw it, with the time of the read (the Redis server's clock, ms). */
export interface HealthRead {
  now: number;
  records: HealthRecords;
}

/** Parses what READ and HEALTH answer (a flat field/value list). */
export function parseHealth(flat: readonly string[]): HealthRecords {
  const records: HealthRecords = new Map();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i] as string;
    const value = flat[i + 1] as string;
    try {
      if (field.startsWith('d|')) {
        const base = field.slice(2);
        const d = JSON.parse(value) as { h: Health; since: number; u?: number | false };
        const record = records.get(base) ?? { verdicts: [] };
        record.decided = { health: d.h, since: d.since, ...(d.u === undefined ? {} : { until: d.u === false ? null : d.u }) };
        records.set(base, record);
      } else if (field.startsWith('v|')) {
        const last = field.lastIndexOf('|');
        const base = field.slice(2, last);
        const space = value.indexOf(' ');
        const v = JSON.parse(value.slice(space + 1)) as StoredVerdict;
        const record = records.get(base) ?? { verdicts: [] };
        record.verdicts.push({
          prober: field.slice(last + 1),
          health: v.h,
          since: v.since,
          probedAt: v.at,
          error: v.err ?? null,
          errorAt: v.errAt ?? null,
          timeoutSeconds: typeof v.to === 'number' ? v.to : null,
        });
        const expires = Number(value.slice(0, space));
        if ((v.h === 'healthy' || v.h === 'unhealthy') && Number.isSafeInteger(expires)) record.lapse = Math.min(record.lapse ?? expires, expires);
        records.set(base, record);
      }
    } catch {
      // A malformed field counts for nothing: the endpoint stays unknown rather than failing the answer.
    }
  }
  return records;
}

/** The health of one endpoint at its health revision. */
export function endpointHealth(records: HealthRecords, endpoint: { id: string; healthRevision: number }): EndpointHealth {
  const record = records.get(`${endpoint.id}|${endpoint.healthRevision}`);
  return aggregateHealth(record?.verdicts ?? [], record?.decided);
}

/**
 * An endpoint's health as a watch stream is sent it: the majority of its fresh verdicts, and
 * `since`, a moment within that health (ms, the Redis server's clock), never unknown: the decided
 * record's while it proves it (the same health, and no expiry since it was written), else the time
 * of the read. So of two frames of one endpoint (at one health revision) the one with the later
 * `since` is the later health, whichever of a read or a published change sent it.
 */
export function currentHealth(read: HealthRead, endpoint: { id: string; healthRevision: number }): { health: Health; since: number } {
  const record = read.records.get(`${endpoint.id}|${endpoint.healthRevision}`);
  const health = majorityHealth(record?.verdicts ?? []);
  const d = record?.decided;
  const proven = d !== undefined && d.health === health && d.until !== undefined && (d.until === null || read.now < d.until);
  return { health, since: proven ? d.since : read.now };
}

/** When an expiry may next change the health of one of the route's endpoints with no write (null: none can). */
export function nextLapse(records: HealthRecords): number | null {
  let first: number | null = null;
  for (const record of records.values()) if (record.lapse !== undefined && (first === null || record.lapse < first)) first = record.lapse;
  return first;
}

/**
 * Each endpoint's health as selection needs it, by `<endpoint>|<healthRevision>`: healthy or
 * unhealthy by the majority of its fresh verdicts; an endpoint absent is unknown.
 */
export type HealthVotes = ReadonlyMap<string, Health>;

export const NO_VOTES: HealthVotes = new Map();

/** The votes of a summary (`e|4=healthy f|4=unhealthy`, see healthSummaryKey), as VERDICT writes it and VOTES answers it. */
export function parseSummary(summary: string): HealthVotes {
  if (summary === '') return NO_VOTES;
  const votes = new Map<string, Health>();
  for (const part of summary.split(' ')) {
    const eq = part.lastIndexOf('=');
    const health = part.slice(eq + 1);
    if (eq > 0 && (health === 'healthy' || health === 'unhealthy')) votes.set(part.slice(0, eq), health);
  }
  return votes;
}

/** The votes of full health records (a strong read's, from HEALTH): the same majority, decided here. */
export function votesOf(records: HealthRecords): HealthVotes {
  const votes = new Map<string, Health>();
  for (const [base, record] of records) {
    const health = majorityHealth(record.verdicts);
    if (health !== 'unknown') votes.set(base, health);
  }
  return votes;
}

/** The health of an endpoint, as selection needs it: unknown unless decided by the verdicts. */
export function healthOf(votes: HealthVotes, endpoint: { id: string; healthRevision: number }): Health {
  if (votes.size === 0) return 'unknown';
  return votes.get(`${endpoint.id}|${endpoint.healthRevision}`) ?? 'unknown';
}

/** A health change as the probers publish it. */
export interface HealthChange {
  route: string;
  endpoint: string;
  healthRevision: number;
  health: Health;
  /** When it changed (the write's time, the Redis server's clock). */
  since: number;
  /** When an expiry may next change the route's health with no write (absent: none can, or an older writer). */
  until?: number;
}

export function parseHealthChange(message: string): HealthChange | undefined {
  try {
    const m = JSON.parse(message) as Partial<HealthChange>;
    if (typeof m.route !== 'string' || typeof m.endpoint !== 'string' || typeof m.health !== 'string') return undefined;
    if (!Number.isSafeInteger(m.healthRevision) || typeof m.since !== 'number') return undefined;
    if (m.until !== undefined && typeof m.until !== 'number') return undefined;
    return m as HealthChange;
  } catch {
    return undefined;
  }
}

/** How long a route's health hash lives after its last write: verdicts expire long before. */
const HEALTH_KEY_TTL_MS = 24 * 3600 * 1000;

/** Health reads (resolver, command API) and verdict writes (prober) over one Redis client. */
export class HealthStore {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly timeoutMs = 1_000,
  ) {}

  key(id: RouteId): string {
    return healthKey(this.prefix, id);
  }

  async read(id: RouteId): Promise<HealthRecords> {
    return (await this.readAt(id)).records;
  }

  /** The route's fresh health and the time of the read. */
  async readAt(id: RouteId): Promise<HealthRead> {
    const [now, ...flat] = await withDeadline(this.client.healthRead(this.key(id), []), this.timeoutMs);
    return { now: Number(now), records: parseHealth(flat) };
  }

  /** Writes a prober's verdict (see VERDICT_SCRIPT in health-scripts.ts); answers whether the endpoint's health changed, and to what. */
  async recordVerdict(
    id: RouteId,
    endpoint: { id: string; healthRevision: number },
    verdict: { prober: string; health: Health; error: string | null; ttlMs: number; timeoutSeconds?: number },
  ): Promise<{ changed: boolean; health: Health }> {
    const [changed, health] = (await withDeadline(
      this.client.healthVerdict(this.key(id), healthSummaryKey(this.prefix, id), [
        endpoint.id,
        String(endpoint.healthRevision),
        verdict.prober,
        verdict.health,
        String(Math.max(1, Math.round(verdict.ttlMs))),
        verdict.error ?? '',
        healthChannel(this.prefix),
        `${id.tenant}/${id.service}/${id.environment}`,
        String(HEALTH_KEY_TTL_MS),
        verdict.timeoutSeconds === undefined ? '' : String(verdict.timeoutSeconds),
      ]),
      this.timeoutMs,
    )) as [number, Health];
    return { changed: changed === 1, health };
  }
}
