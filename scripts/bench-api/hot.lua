-- wrk script: PUT the one item of the URL with If-Match of the last ETag
-- this thread saw; with many connections in flight most writers hold a
-- stale ETag and get 412, as clients racing on a hot item do.
-- Arguments after "--": API key, the item's ETag at the start.
function init(args)
  wrk.method = "PUT"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-Key"] = args[1]
  etag = args[2]
  n = 0
end

function request()
  n = n + 1
  local body = string.format(
    '{"name":"hot-item","image":"postgres:17-alpine","description":"write %d","labels":["db","hot"]}', n)
  wrk.headers["If-Match"] = etag
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  local t = headers["Etag"] or headers["ETag"] or headers["etag"]
  if status == 200 and t then etag = t end
end
