-- wrk script: POST /api/inventory with a unique name per request.
-- Arguments after "--": run id, API key.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  run = args[1]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-Key"] = args[2]
  n = 0
end

function request()
  n = n + 1
  local body = string.format(
    '{"name":"bench-%s-%d-%d","image":"postgres:17-alpine","description":"created by bench-api","labels":["bench-%s"]}', run, tid, n, run)
  return wrk.format(nil, "/api/inventory", nil, body)
end

