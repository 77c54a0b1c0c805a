/**
 * The Lua scripts of endpoint health (the hash and summary health-store.ts describes): VOTES, HEALTH
 * and VERDICT, registered with the client in scripts.ts. A module of their own, importing nothing,
 * so that the client's scripts and the store that calls them do not import each other.
 */
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

/** HEALTH(healthKey) -> {now, fresh health (flat)}: the Redis server's time of the read first, then the fields. */
export const HEALTH_SCRIPT = `
${NOW_MS}
${FRESH_HEALTH}
return fresh_health(KEYS[1], now, {string.format('%d', now)})
`;

/**
 * VERDICT(healthKey, summaryKey; endpoint, healthRevision, prober, health, ttlMs, error, channel, routeKey, keyTtlMs, timeoutSeconds)
 * -> {changed (1|0), aggregate health}.
 *
 * Writes one prober's verdict (its `since` kept while the verdict stays the same; its last error
 * kept until a new one), removes expired verdicts and decided records that no fresh verdict backs,
 * and decides the endpoint's health again from its fresh verdicts: healthy or unhealthy by a strict
 * majority of those that take a side, else unknown (the rule of aggregateHealth).
 *
 * The decided record `d|` is {h, since, u}: the health, a moment within it (when it began, if
 * known), and `u`, the first expiry of a verdict of the endpoint that takes a side (false: none),
 * before which only a write can change the health: past it an expiry may have, unseen, so `since`
 * no longer proves anything. The change is published (and `since` is now) when the health differs
 * from the one just before this write (as readers saw it: the fresh verdicts, this prober's previous
 * one among them) or from the record (an expiry changed it since the last write). The message
 * carries `until`: the first expiry of a verdict of the route that takes a side (when the route's
 * health may next change with no write), or nothing when none does.
 */
export const VERDICT_SCRIPT = `
local key = KEYS[1]
${NOW_MS}
local base = ARGV[1] .. '|' .. ARGV[2]
local field = 'v|' .. base .. '|' .. ARGV[3]
local prev = redis.call('HGET', key, field)
local since = now
local err, errAt = ARGV[6], now
-- This prober's previous verdict, while fresh, counts for the health just before this write.
local was_yes, was_no = 0, 0
if prev then
  local p = cjson.decode(string.match(prev, '^%d+ (.*)$'))
  if p.h == ARGV[4] then since = p.since end
  if err == '' then err = p.err; errAt = p.errAt end
  local pexp = tonumber(string.match(prev, '^(%d+) '))
  if pexp and pexp > now then
    if p.h == 'healthy' then was_yes = 1 elseif p.h == 'unhealthy' then was_no = 1 end
  end
end
if err == '' or err == nil then err = nil; errAt = nil end
local value = cjson.encode({h = ARGV[4], since = since, at = now, err = err, errAt = errAt, to = tonumber(ARGV[10] or '')})
redis.call('HSET', key, field, string.format('%d', now + tonumber(ARGV[5])) .. ' ' .. value)
local all = redis.call('HGETALL', key)
local backed = {}
-- Every endpoint's tally of fresh verdicts that take a side, the first time one of them expires
-- (the endpoint's, and the route's: valid).
local yes, no, order, first, valid = {}, {}, {}, {}, nil
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
        if b == base and f ~= field then
          if h == 'healthy' then was_yes = was_yes + 1 else was_no = was_no + 1 end
        end
        if first[b] == nil or exp < first[b] then first[b] = exp end
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
local function majority(y, n)
  if y * 2 > y + n then return 'healthy' elseif n * 2 > y + n then return 'unhealthy' end
  return 'unknown'
end
local health = majority(healthy, unhealthy)
local was = majority(was_yes, was_no)
local dfield = 'd|' .. base
local decided = redis.call('HGET', key, dfield)
local d = decided and cjson.decode(decided)
local dh = (d and d.h) or 'unknown'
local dsince = now
-- The record's since still holds: the same health, no change just before, and no expiry since the record was written.
if d and dh == health and was == health and d.u ~= nil and (d.u == false or now < d.u) then dsince = d.since end
local changed = 0
if was ~= health or dh ~= health then
  redis.call('PUBLISH', ARGV[7], cjson.encode({route = ARGV[8], endpoint = ARGV[1], healthRevision = tonumber(ARGV[2]), health = health, since = now, ["until"] = valid}))
  changed = 1
end
redis.call('HSET', key, dfield, cjson.encode({h = health, since = dsince, u = first[base] or false}))
redis.call('PEXPIRE', key, ARGV[9])
return {changed, health}
`;
