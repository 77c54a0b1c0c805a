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
 *   d|<endpoint>|<healthRevision>           the aggregate as the probers last decided it, {h, since}:
 *                                           when it changed (`since`), and the change event

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

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** The Lua that appends a health hash's decided records and fresh verdicts to `out`. */
const FRESH_HEALTH = `
local function fresh_health(key, now, out)
  local h = redis.call('HGETALL', key)
  for i = 1, #h, 2 do
    local f, v = h[i], h[i + 1]
    if string.sub(f, 1, 2) == 'd|' then
      out[#out + 1] = f
      out[#out + 1] = v
    else
      local exp = tonumber(string.match(v, '^(%d+) '))
      if exp and exp > now then
        out[#out + 1] = f
        out[#out + 1] = v
      end
    end
  end
  return out
end`;

/**
 * The Lua that decides each endpoint's health from its fresh verdicts, as majorityHealth does (a
 * strict majority of the verdicts that take a side), and answers only what selection needs, in the
 * summary's format (see healthSummaryKey; an endpoint left out is unknown).
 */
const HEALTH_VOTES = `
local function health_votes(key, now)
  local h = redis.call('HGETALL', key)
  local yes, no, order = {}, {}, {}
  for i = 1, #h, 2 do
    local f, v = h[i], h[i + 1]
    -- v|<endpoint>|<healthRevision>|<prober>: endpoint ids are names (no '|'), so the base is the first two parts.
    local base = string.match(f, '^v|([^|]+|%d+)|')
    if base then
      local space = string.find(v, ' ', 1, true)
      local exp = space and tonumber(string.sub(v, 1, space - 1))
      if exp and exp > now then
        if yes[base] == nil then
          yes[base] = 0
          no[base] = 0
          order[#order + 1] = base
        end
        -- The verdict's JSON (cjson): a quote inside a string value is escaped, so these are its "h" alone.
        if string.find(v, '"h":"healthy"', space, true) then
          yes[base] = yes[base] + 1
        elseif string.find(v, '"h":"unhealthy"', space, true) then
          no[base] = no[base] + 1
        end
      end
    end
  end
  local parts = {}
  for _, base in ipairs(order) do
    local voting = yes[base] + no[base]
    if yes[base] * 2 > voting then parts[#parts + 1] = base .. '=healthy' elseif no[base] * 2 > voting then parts[#parts + 1] = base .. '=unhealthy' end
  end
  return table.concat(parts, ' ')
end`;

/**
 * VOTES(healthKey) -> health votes (a summary, see HEALTH_VOTES): the majorities counted from the fresh
 * verdicts, for a read that found no summary (it expired with a verdict that no prober renewed, or
 * nothing was written yet).
 */
export const VOTES_SCRIPT = `
${NOW_MS}
${HEALTH_VOTES}
return health_votes(KEYS[1], now)
`;

/** HEALTH(healthKey) -> fresh health (flat). */
export const HEALTH_SCRIPT = `
${NOW_MS}
${FRESH_HEALTH}
return fresh_health(KEYS[1], now, {})
`;

/**
 * VERDICT(healthKey, summaryKey; endpoint, healthRevision, prober, health, ttlMs, error, channel, routeKey, keyTtlMs, timeoutSeconds)
 * -> {changed (1|0), aggregate health}.
 *
 * Writes one prober's verdict (its `since` kept while the verdict stays the same; its last error
 * kept until a new one), removes expired verdicts and decided records that no fresh verdict backs,
 * and decides the endpoint's health again from its fresh verdicts: healthy or unhealthy by a strict
 * majority of those that take a side, else unknown (the rule of aggregateHealth). When that differs
 * from the decided record, the record changes (since: now) and the change is published.
 */
export const VERDICT_SCRIPT = `
local key = KEYS[1]
${NOW_MS}
local base = ARGV[1] .. '|' .. ARGV[2]
local field = 'v|' .. base .. '|' .. ARGV[3]
local prev = redis.call('HGET', key, field)
local since = now
local err, errAt = ARGV[6], now
if prev then
  local p = cjson.decode(string.match(prev, '^%d+ (.*)$'))
  if p.h == ARGV[4] then since = p.since end
  if err == '' then err = p.err; errAt = p.errAt end
end
if err == '' or err == nil then err = nil; errAt = nil end
local value = cjson.encode({h = ARGV[4], since = since, at = now, err = err, errAt = errAt, to = tonumber(ARGV[10] or '')})
redis.call('HSET', key, field, string.format('%d', now + tonumber(ARGV[5])) .. ' ' .. value)
local all = redis.call('HGETALL', key)
local backed = {}
-- Every endpoint's tally of fresh verdicts that take a side, and the first time one of them expires.
local yes, no, order, valid = {}, {}, {}, nil
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  if string.sub(f, 1, 2) == 'v|' then
    local exp = tonumber(string.match(v, '^(%d+) '))
    if not exp or exp <= now then
      redis.call('HDEL', key, f)
    else
      local b = string.match(f, '^v|(.*)|[^|]*$')
      backed[b] = true
      local h = cjson.decode(string.match(v, '^%d+ (.*)$')).h
      if h == 'healthy' or h == 'unhealthy' then
        if yes[b] == nil then
          yes[b] = 0
          no[b] = 0
          order[#order + 1] = b
        end
        if h == 'healthy' then yes[b] = yes[b] + 1 else no[b] = no[b] + 1 end
        if valid == nil or exp < valid then valid = exp end
      end
    end
  end
end
local healthy, unhealthy = yes[base] or 0, no[base] or 0
-- The summary READ answers from (see HEALTH_SUMMARY): every endpoint's majority, valid until a
-- verdict that makes it expires (until then only a write, which writes the summary again, changes it).
local parts = {}
for _, b in ipairs(order) do
  if yes[b] * 2 > yes[b] + no[b] then parts[#parts + 1] = b .. '=healthy' elseif no[b] * 2 > yes[b] + no[b] then parts[#parts + 1] = b .. '=unhealthy' end
end
local keep = now + tonumber(ARGV[9])
if valid and valid < keep then keep = valid end
redis.call('SET', KEYS[2], table.concat(parts, ' '), 'PXAT', string.format('%d', keep))
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, 2) == 'd|' and not backed[string.sub(f, 3)] then redis.call('HDEL', key, f) end
end
local voting = healthy + unhealthy
local health = 'unknown'
if healthy * 2 > voting then health = 'healthy' elseif unhealthy * 2 > voting then health = 'unhealthy' end
local dfield = 'd|' .. base
local decided = redis.call('HGET', key, dfield)
local was = 'unknown'
if decided then was = cjson.decode(decided).h end
local changed = 0
if was ~= health then
  redis.call('HSET', key, dfield, cjson.encode({h = health, since = now}))
  redis.call('PUBLISH', ARGV[7], cjson.encode({route = ARGV[8], endpoint = ARGV[1], healthRevision = tonumber(ARGV[2]), health = health, since = now}))
  changed = 1
end
redis.call('PEXPIRE', key, ARGV[9])
return {changed, health}
`;

interface StoredVerdict {
  h: Health;
  since: number;
  at: number;
  err?: string | null;
  errAt?: number | null;
  to?: number;
}

/** The fresh health of a route's endpoints, by `<endpoint>|<healthRevision>`. */
export type HealthRecords = Map<string, { verdicts: Verdict[]; decided?: { health: Health; since: number } }>;

/** No health known: every endpoint unknown (Redis down, or nothing probed yet). */
export const NO_HEALTH: HealthRecords = new Map();

/** Parses what READ and HEALTH answer (a flat field/value list). */
export function parseHealth(flat: readonly string[]): HealthRecords {
  const records: HealthRecords = new Map();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i] as string;
    const value = flat[i + 1] as string;
    try {
      if (field.startsWith('d|')) {
        const base = field.slice(2);
        const d = JSON.parse(value) as { h: Health; since: number };
        const record = records.get(base) ?? { verdicts: [] };
        record.decided = { health: d.h, since: d.since };
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
  since: number;
}

export function parseHealthChange(message: string): HealthChange | undefined {
  try {
    const m = JSON.parse(message) as Partial<HealthChange>;
    if (typeof m.route !== 'string' || typeof m.endpoint !== 'string' || typeof m.health !== 'string') return undefined;
    if (!Number.isSafeInteger(m.healthRevision) || typeof m.since !== 'number') return undefined;
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
    return parseHealth(await withDeadline(this.client.healthRead(this.key(id), []), this.timeoutMs));
  }

  /** Writes a prober's verdict (see VERDICT_SCRIPT); answers whether the endpoint's health changed, and to what. */
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
