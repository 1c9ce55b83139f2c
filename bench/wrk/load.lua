-- The one wrk script of `make bench` (run with -t1). Configured by environment variables, read
-- in every Lua state wrk makes (the main one for setup/done, one per thread):
--
--   BENCH_METHOD   GET or POST (default GET)
--   BENCH_TOKEN    sent as `Authorization: Bearer …` when set
--   BENCH_MCP=1    adds the MCP headers (JSON, Accept, MCP-Protocol-Version)
--   BENCH_FORM=1   Content-Type: application/x-www-form-urlencoded
--   BENCH_BODY     a file whose whole content is the body of every request
--   BENCH_LINES    a file with one body per line: each request takes the next one, once (the
--                  authorization-code grant: a code is single use). When the lines run out the
--                  thread stops, so no request is sent twice.
--   BENCH_CHAIN    a template body with `%s` (the refresh grant): BENCH_LINES then holds refresh
--                  tokens, and the `refresh_token` of each 2xx answer goes back into the queue,
--                  so every token is used exactly once (rotation) and the run never runs dry.
--   BENCH_COLLECT  a file: every `refresh_token` answered is appended to it (the code exchange
--                  collects the refresh tokens the refresh run starts from).
--
-- done() prints one line `BENCH_RESULT {json}` that bench/run.mjs reads.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local function env(name) local v = os.getenv(name); if v == "" then return nil end; return v end
local function slurp(path)
  local f = assert(io.open(path, "rb"), "cannot read " .. path)
  local s = f:read("*a"); f:close(); return s
end

local method = env("BENCH_METHOD") or "GET"
local headers = {}
if env("BENCH_TOKEN") then headers["Authorization"] = "Bearer " .. env("BENCH_TOKEN") end
if env("BENCH_MCP") then
  headers["Content-Type"] = "application/json"
  headers["Accept"] = "application/json, text/event-stream"
  headers["MCP-Protocol-Version"] = "2025-06-18"
end
if env("BENCH_FORM") then headers["Content-Type"] = "application/x-www-form-urlencoded" end
local chain = env("BENCH_CHAIN")
local lines_file = env("BENCH_LINES")
local collect_file = env("BENCH_COLLECT")

-- Per-thread counters, read by done() through thread:get.
ok, failed, first_us, last_ok_us, exhausted = 0, 0, 0, 0, 0

local queue, head, tail = {}, 1, 0
local function push(v) tail = tail + 1; queue[tail] = v end
local function pop()
  if head > tail then return nil end
  local v = queue[head]; queue[head] = nil; head = head + 1; return v
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  if lines_file then
    for line in io.lines(lines_file) do if line ~= "" then push(line) end end
  end
  if collect_file then collector = assert(io.open(collect_file, "a")) end
end

if lines_file then
  function request()
    if first_us == 0 then first_us = now_us() end
    local item = pop()
    if item == nil then
      -- Nothing left to send once: stop this thread (wrk sends this last request, meant to fail).
      exhausted = 1
      wrk.thread:stop()
      item = chain and "none" or "grant_type=authorization_code&code=exhausted"
    end
    local body = chain and string.format(chain, item) or item
    return wrk.format(method, nil, headers, body)
  end
else
  wrk.method = method
  for name, value in pairs(headers) do wrk.headers[name] = value end
  if env("BENCH_BODY") then wrk.body = slurp(env("BENCH_BODY")) end
end

if lines_file or collect_file then
  function response(status, hdrs, body)
    if status >= 200 and status < 300 then
      ok = ok + 1
      last_ok_us = now_us()
      local rt = body and string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
      if rt then
        if chain then push(rt) end
        if collector then collector:write(rt, "\n"); collector:flush() end
      end
    else
      failed = failed + 1
    end
  end
end

function done(summary, latency, requests)
  local t_ok, t_failed, window, ran_dry = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t_ok = t_ok + (t:get("ok") or 0)
    t_failed = t_failed + (t:get("failed") or 0)
    local first, last = t:get("first_us") or 0, t:get("last_ok_us") or 0
    if last > first and first > 0 then window = math.max(window, last - first) end
    ran_dry = math.max(ran_dry, t:get("exhausted") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"counted":%s,"ok":%d,"failed":%d,"window_us":%d,"exhausted":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    (lines_file or collect_file) and "true" or "false", t_ok, t_failed, window, ran_dry,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
