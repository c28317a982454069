-- wrk script: pipelines 16 requests per write (wrk sends them together and
-- counts each response). The path comes from the URL wrk was given, so the
-- same script serves /plaintext and /json.
-- Usage: wrk -s bench/pipeline.lua http://127.0.0.1:PORT/plaintext [-- DEPTH]
local depth = 16
local req

function init(args)
  if args[1] ~= nil then
    depth = tonumber(args[1])
    if depth == nil or depth < 1 or depth > 256 then
      error("pipeline depth must be 1..256")
    end
  end
  local one = wrk.format(nil, wrk.path)
  req = string.rep(one, depth)
end

function request()
  return req
end
