/**
 * The cache protocol's two writes, each one atomic Lua script on one route's hash:
 *
 *   s      'p' (the route exists: u = url, r = its revision) or 'a' (it does not)
 *   asof   the store revision the answer reflects (every write <= asof is included)
 *   t      when the answer was known current (ms since the epoch): the database read, or the
 *          write's commit time for answers that came with an event
 *   inv    '1' when an event made the answer not fresh (invalidate mode)
 *   fence  the highest event revision seen for the route
 *
 * The key's Redis expiry is the stale grace, not the TTL: freshness is judged by the reader from t.
 */

/**
 * FILL(key; state, url, routeRevision, asOf, knownAt, graceMs) -> 1 accepted, 0 rejected.
 * Accepted only when the fill's snapshot is not older than the entry (asOf >= entry.asof) and not
 * older than the fence (asOf >= fence): a fill from an older snapshot never overwrites a newer
 * entry or an invalidation (G6). An equal asOf is the same state: only t moves forward.
 */
export const FILL_SCRIPT = `
local key = KEYS[1]
local asof = tonumber(ARGV[4])
local current = tonumber(redis.call('HGET', key, 'asof') or '-1')
local fence = tonumber(redis.call('HGET', key, 'fence') or '0')
if asof < current or asof < fence then
  return 0
end
local known = tonumber(ARGV[5])
if asof == current then
  local t = tonumber(redis.call('HGET', key, 't') or '0')
  if t > known then known = t end
end
if ARGV[1] == 'p' then
  redis.call('HSET', key, 's', 'p', 'u', ARGV[2], 'r', ARGV[3], 'asof', ARGV[4], 't', tostring(known))
else
  redis.call('HSET', key, 's', 'a', 'asof', ARGV[4], 't', tostring(known))
  redis.call('HDEL', key, 'u', 'r')
end
redis.call('HDEL', key, 'inv')
redis.call('PEXPIRE', key, ARGV[6])
return 1
`;

/**
 * EVENT(key; state, url, revision, eventTime, mode, graceMs) -> 1 applied, 0 ignored.
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
  else
    redis.call('HSET', key, 's', 'a', 'asof', ARGV[3], 't', ARGV[4])
    redis.call('HDEL', key, 'u', 'r')
  end
  redis.call('HDEL', key, 'inv')
elseif redis.call('HEXISTS', key, 's') == 1 then
  redis.call('HSET', key, 'inv', '1')
end
redis.call('PEXPIRE', key, ARGV[6])
return 1
`;
