-- wrk script: spreads requests over the routes listed in a targets file
-- ("host path" per line, first argument after --) and paces each connection
-- with a fixed delay (second argument, milliseconds) so that the load is
-- bounded and leaves the load generator's core room for the latency probe.
-- Headers given with -H (e.g. "Connection: close" for churn) are kept.
local targets = {}
local pause = 0
local i = 0

function init(args)
  local file = args[1]
  pause = tonumber(args[2] or "0")
  local f = assert(io.open(file, "r"))
  for line in f:lines() do
    local host, path = line:match("^(%S+)%s+(%S+)$")
    if host then targets[#targets + 1] = {host, path} end
  end
  f:close()
  assert(#targets > 0, "no targets in " .. file)
  -- Each thread starts at its own place in the list.
  i = math.random(#targets)
end

function request()
  i = i % #targets + 1
  local t = targets[i]
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Host"] = t[1]
  return wrk.format("GET", t[2], headers)
end

function delay()
  return pause
end
