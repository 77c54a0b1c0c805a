-- The bench's wrk script (tools/bench/wrk.mjs runs `wrk -t1 -s wrk.lua`): cycles the requests of
-- the file BENCH_WRK_REQUESTS (one a line: METHOD, tab, path, and optionally tab and body, and tab and
-- an Authorization header of its own), each with the headers given by -H; counts the answers by status in response(); and in done() prints
-- one line, "BENCH_WRK_JSON " and JSON: the requests, 2xx and non-2xx counts, statuses, duration,
-- latency percentiles from wrk's histogram (microseconds), socket errors, and the process's CPU
-- ticks from /proc/self/stat (utime + stime: the generator's own CPU over the run).

local requests = {}

-- In each thread, once wrk has set its host and the -H headers (not yet when the script loads).
function init(args)
  for line in io.lines(os.getenv("BENCH_WRK_REQUESTS")) do
    local method, path, body, authorization = line:match("^(%u+)\t([^\t]*)\t?([^\t]*)\t?(.*)$")
    if method then
      if body == "" then body = nil end
      -- wrk.format takes the headers given instead of -H's: a line's own Authorization goes over a copy of them.
      local headers = nil
      if authorization ~= "" then
        headers = {}
        for k, v in pairs(wrk.headers) do
          if string.lower(k) ~= "authorization" then headers[k] = v end
        end
        headers["Authorization"] = authorization
      end
      requests[#requests + 1] = wrk.format(method, path, headers, body)
    end
  end
  if #requests == 0 then
    io.stderr:write("wrk.lua: no requests in " .. tostring(os.getenv("BENCH_WRK_REQUESTS")) .. "\n")
    os.exit(2)
  end
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

local n = 0
ok = 0
other = 0
statuses = {}

function request()
  n = n + 1
  if n > #requests then n = 1 end
  return requests[n]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else other = other + 1 end
  statuses[status] = (statuses[status] or 0) + 1
end

local function cpuTicks()
  local f = io.open("/proc/self/stat", "r")
  if not f then return nil end
  local stat = f:read("*a")
  f:close()
  -- After the command's name in parentheses: field 3 (state) onwards; utime is field 14, stime 15.
  local rest = stat:match("%) (.*)$")
  local fields = {}
  for v in rest:gmatch("%S+") do fields[#fields + 1] = v end
  return tonumber(fields[12]) + tonumber(fields[13])
end

function done(summary, latency, _)
  local total_ok, total_other, by_status = 0, 0, {}
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_other = total_other + t:get("other")
    for status, count in pairs(t:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(by_status) do parts[#parts + 1] = string.format('"%d":%d', status, count) end
  local percentiles = { 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99 }
  local dist = { string.format('[0,%d]', latency.min) }
  for _, p in ipairs(percentiles) do dist[#dist + 1] = string.format('[%s,%d]', tostring(p), latency:percentile(p)) end
  dist[#dist + 1] = string.format('[100,%d]', latency.max)
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK_JSON {"requests":%d,"ok":%d,"non2xx":%d,"statuses":{%s},"durationUs":%d,"latencyUs":[%s],' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"cpuTicks":%d}\n',
    summary.requests, total_ok, total_other, table.concat(parts, ","), summary.duration, table.concat(dist, ","),
    e.connect, e.read, e.write, e.timeout, cpuTicks() or -1))
end
