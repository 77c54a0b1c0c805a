import { defineScript, type CommandParser, type RedisArgument } from 'redis';
import { oneKeyScript } from '@tm/platform';
import { HEALTH_SCRIPT, VERDICT_SCRIPT, VOTES_SCRIPT } from './health-scripts';

/**
 * The cache protocol's two writes, each one atomic Lua script on one route's hash:
 *
 *   s      'p' (the route exists: u = url, r = its revision, pol = its policy, see encodePolicy, tid = the id
 *          of its tenant, absent when the writer did not know it) or 'a' (it does not)
 *   asof   the store revision the answer reflects (every write <= asof is included)
 *   t      when the answer was known current (ms since the epoch, always the database's clock):
 *          the statement time of the fill's read, or the write's commit time for answers that
 *          came with an event
 *   inv    '1' when an event made the answer not fresh (invalidate mode)
 *   fence  the highest event revision seen for the route
 *   l      the lease of the fill in flight (PREPARE), see below
 *
 * The key's Redis expiry is the stale grace, not the TTL: freshness is judged by the reader from t.
 * Every script touches one key, so on a Redis Cluster it runs on the route's slot.
 *
 * Redis losing data (a restart without persistence, a failover to a replica that had not received
 * the last writes, an eviction) takes the fence with it, and a fill from before the lost event
 * would then be taken. So a fill is tied to what it saw before its database read: PREPARE writes a
 * lease into the route's hash and answers the run id of the Redis process that holds it; FILL is
 * refused unless the same process (`INFO server` run_id: a restart or a failover changes it) still
 * holds the same lease (a lost key loses its lease). Together: the hash lived on, continuously in
 * that process's memory, from before the database read to the fill, so any event applied in
 * between is still there to fence it.
 */

/** The run id of this Redis process (it changes on every restart; another node has another). */
const NODE_ID = `string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')`;

/**
 * PREPARE(key; lease, leaseMs) -> the node's run id. Sets the route's lease (a newer PREPARE of
 * another fill replaces it: only the latest fill of a route can land). A key made here (a lease
 * only, no answer) expires after leaseMs unless a fill or an event keeps it.
 */
export const PREPARE_SCRIPT = `
local key = KEYS[1]
local fresh = redis.call('EXISTS', key) == 0
redis.call('HSET', key, 'l', ARGV[1])
if fresh then redis.call('PEXPIRE', key, ARGV[2]) end
return ${NODE_ID}
`;

/** Lua: sets field `tid` of the route's hash to `value`, or removes it when `value` is empty. */
const SET_TENANT = (value: string) => `if ${value} ~= nil and ${value} ~= '' then redis.call('HSET', key, 'tid', ${value}) else redis.call('HDEL', key, 'tid') end`;

/**
 * FILL(key; state, url, routeRevision, asOf, knownAt, graceMs, lease, nodeId, policy, tenantId) -> 1 accepted,
 * 0 rejected, 2 refused.
 * Refused (2) when the lease PREPARE gave is no longer there or the node is not the one that gave
 * it (see above). Otherwise accepted only when the fill's snapshot is not older than the entry
 * (asOf >= entry.asof) and not older than the fence (asOf >= fence): a fill from an older snapshot
 * never overwrites a newer entry or an invalidation (G6). An equal asOf is the same state: t becomes
 * the fill's (its read began after whatever stamped the entry, on the same database clock, so an
 * entry's later t can only be a time from the future, which the fill corrects). Either way the
 * lease is spent.
 */
export const FILL_SCRIPT = `
local key = KEYS[1]
if ${NODE_ID} ~= ARGV[8] or redis.call('HGET', key, 'l') ~= ARGV[7] then
  return 2
end
redis.call('HDEL', key, 'l')
local asof = tonumber(ARGV[4])
local current = tonumber(redis.call('HGET', key, 'asof') or '-1')
local fence = tonumber(redis.call('HGET', key, 'fence') or '0')
if asof < current or asof < fence then
  return 0
end
if ARGV[1] == 'p' then
  redis.call('HSET', key, 's', 'p', 'u', ARGV[2], 'r', ARGV[3], 'asof', ARGV[4], 't', ARGV[5])
  if ARGV[9] ~= nil and ARGV[9] ~= '' then redis.call('HSET', key, 'pol', ARGV[9]) else redis.call('HDEL', key, 'pol') end
  ${SET_TENANT('ARGV[10]')}
else
  redis.call('HSET', key, 's', 'a', 'asof', ARGV[4], 't', ARGV[5])
  redis.call('HDEL', key, 'u', 'r', 'pol', 'tid')
end
redis.call('HDEL', key, 'inv')
redis.call('PEXPIRE', key, ARGV[6])
return 1
`;

/**
 * EVENT(key; state, url, revision, eventTime, mode, graceMs, policy, tenantId) -> 1 applied, 0 ignored.
 * Raises the fence to the event's revision. An event no newer than the entry (a duplicate, or an
 * old one arriving late) changes nothing else. Otherwise, in refresh mode the event's answer
 * replaces the entry (as of its revision, known current from its commit time); in invalidate mode
 * the entry is marked not fresh (kept for STALE answers while the database is down).
 */
export const EVENT_SCRIPT = `
local key = KEYS[1]
local revision = tonumber(ARGV[3])
local fence = tonumber(redis.call('HGET', key, 'fence') or '0')
local current = tonumber(redis.call('HGET', key, 'asof') or '-1')
if revision <= current or revision < fence then
  return 0
end
redis.call('HSET', key, 'fence', ARGV[3])
if ARGV[5] == 'refresh' then
  if ARGV[1] == 'p' then
    redis.call('HSET', key, 's', 'p', 'u', ARGV[2], 'r', ARGV[3], 'asof', ARGV[3], 't', ARGV[4])
    if ARGV[7] ~= nil and ARGV[7] ~= '' then redis.call('HSET', key, 'pol', ARGV[7]) else redis.call('HDEL', key, 'pol') end
    ${SET_TENANT('ARGV[8]')}
  else
    redis.call('HSET', key, 's', 'a', 'asof', ARGV[3], 't', ARGV[4])
    redis.call('HDEL', key, 'u', 'r', 'pol', 'tid')
  end
  redis.call('HDEL', key, 'inv')
elseif redis.call('HEXISTS', key, 's') == 1 then
  redis.call('HSET', key, 'inv', '1')
end
redis.call('PEXPIRE', key, ARGV[6])
return 1
`;

/** A script of two keys of one route (one slot: both carry the route's hash tag), then its arguments. */
function twoKeyScript<Reply>(source: string, transformReply: (reply: unknown) => Reply) {
  return defineScript({
    SCRIPT: source,
    NUMBER_OF_KEYS: 2,
    parseCommand(parser: CommandParser, first: RedisArgument, second: RedisArgument, args: RedisArgument[]) {
      parser.pushKey(first);
      parser.pushKey(second);
      parser.push(...args);
    },
    transformReply,
  });
}

/**
 * MARKER_CHECK(marker; masters, token) -> {reason, token, confirmedAt}.
 *
 * The marker is JSON `{ids, at, pending}`: the masters' run ids by address as the workers last saw
 * them, when they last saw them unchanged (`at`, the Redis server's clock), and the token of a
 * replay that is due and not yet done. `masters` is the masters now (address -> run id, '' for one
 * that did not answer: it keeps the marker's). A replay is due (reason `missing`, `new-master` or
 * `pending`) when the marker is gone (Redis lost its data), when a master is a process the marker
 * does not hold (a restart, a failover), or when one is still pending (the worker that marked it
 * may have died before it was done). Then the marker becomes pending (its token kept, or `token`)
 * before the caller replays, and `at` stays the time before the loss; otherwise `ok`, and `at`
 * becomes now. Atomic, so workers that look at once agree, and none can skip a replay another
 * marked: it stays pending until a replay is done (MARKER_DONE).
 */
export const MARKER_CHECK_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local raw = redis.call('GET', KEYS[1])
local marker = nil
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' and type(decoded.ids) == 'table' then marker = decoded end
end
local known = {}
if marker then for _, id in pairs(marker.ids) do known[id] = true end end
local ids, reason = {}, nil
for address, id in pairs(cjson.decode(ARGV[1])) do
  if id == '' then
    if marker and marker.ids[address] then ids[address] = marker.ids[address] end
  else
    ids[address] = id
    if not known[id] then reason = 'new-master' end
  end
end
if not marker then reason = 'missing' elseif reason == nil and type(marker.pending) == 'string' then reason = 'pending' end
if reason == nil then
  redis.call('SET', KEYS[1], cjson.encode({ids = ids, at = now}))
  return {'ok', '', string.format('%d', now)}
end
local token, at = ARGV[2], now
if marker then
  if type(marker.at) == 'number' then at = marker.at end
  if reason == 'pending' then token = marker.pending end
end
redis.call('SET', KEYS[1], cjson.encode({ids = ids, at = at, pending = token}))
return {reason, token, string.format('%d', at)}
`;

/** MARKER_DONE(marker; token) -> 1 when the replay of `token` was the pending one (now done), else 0. */
export const MARKER_DONE_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, marker = pcall(cjson.decode, raw)
if not ok or type(marker) ~= 'table' or marker.pending ~= ARGV[1] then return 0 end
marker.pending = nil
redis.call('SET', KEYS[1], cjson.encode(marker))
return 1
`;

/** A flat list of strings from a script's reply (a Lua table of strings). */
function strings(reply: unknown): string[] {
  return Array.isArray(reply) ? reply.map(String) : [];
}

/**
 * The scripts every client of the cache is created with (node-redis's `scripts` option): each is
 * sent as EVALSHA, and node-redis itself falls back to EVAL when Redis answers NOSCRIPT (a
 * restarted or flushed Redis, a new cluster node), so no caller handles that.
 */
export const ROUTE_CACHE_SCRIPTS = {
  routePrepare: oneKeyScript(PREPARE_SCRIPT, String),
  routeFill: oneKeyScript(FILL_SCRIPT, Number),
  routeEvent: oneKeyScript(EVENT_SCRIPT, Number),
  healthVotes: oneKeyScript(VOTES_SCRIPT, String),
  healthRead: oneKeyScript(HEALTH_SCRIPT, strings),
  replayMarkerCheck: oneKeyScript(MARKER_CHECK_SCRIPT, strings),
  replayMarkerDone: oneKeyScript(MARKER_DONE_SCRIPT, Number),
  healthVerdict: twoKeyScript(VERDICT_SCRIPT, (reply): [number, 'healthy' | 'unhealthy' | 'unknown'] => {
    const [changed, health] = Array.isArray(reply) ? reply : [];
    return [Number(changed), String(health) as 'healthy' | 'unhealthy' | 'unknown'];
  }),
};
export type RouteCacheScripts = typeof ROUTE_CACHE_SCRIPTS;
