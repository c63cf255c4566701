-- POST /ServicePrincipals with a new name each time: seeding through the API, for comparison.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("PATCHBAY_TOKEN")
wrk.headers["Content-Type"] = "application/json"

local n = 0
local prefix = tostring({}):gsub("[^%w]", "")
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"displayName": "API_SP_' .. prefix .. '_' .. n .. '"}')
end
