-- POST /oidc/v1/token: the client-credentials grant, credentials by HTTP Basic as the SDKs send
-- them (PATCHBAY_CLIENT_ID, PATCHBAY_CLIENT_SECRET).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local function b64(s)
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=all-apis"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " ..
  b64(os.getenv("PATCHBAY_CLIENT_ID") .. ":" .. os.getenv("PATCHBAY_CLIENT_SECRET"))
