-- Every request a new body of about 200 bytes: the start time, the thread
-- number and a counter, so a second run is not refused as duplicates.
local start = os.time()
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local counter = 0
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
function request()
  counter = counter + 1
  local body = string.format(
    '[{"id": "bench-%d-%d-%d", "name": "Mesa de madeira %d", "description": "Mesa de jantar de madeira macica para seis lugares, acabamento natural"}]',
    start, id, counter, counter)
  return wrk.format(nil, nil, nil, body)
end
