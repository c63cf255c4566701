-- GET /ServicePrincipals?filter=applicationId eq "<id>", a random seeded id per request.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("PATCHBAY_TOKEN")

local ids = {}
for line in io.lines(os.getenv("PATCHBAY_IDS")) do
  ids[#ids + 1] = line
end
math.randomseed(os.time() + math.floor(os.clock() * 1e6))

request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/api/2.0/preview/scim/v2/ServicePrincipals?filter=applicationId%20eq%20%22" .. id .. "%22")
end
