-- wrk script: GET each item in turn, from the ids in the file named after
-- "--" (one per line), so that every read misses a fresh cache generation.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  ids = {}
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  -- Threads start apart so that they do not share items.
  i = ((tid - 1) * 10007) % #ids
end

function request()
  i = i % #ids + 1
  return wrk.format("GET", "/api/inventory/" .. ids[i])
end
