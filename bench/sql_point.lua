-- A point SELECT through the Statement Execution API: a random id of the benchmark's table per
-- request. SQL_URL_TOKEN, SQL_WAREHOUSE and SQL_ROWS come from bench/run.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SQL_TOKEN")
wrk.headers["Content-Type"] = "application/json"
local warehouse = os.getenv("SQL_WAREHOUSE")
local rows = tonumber(os.getenv("SQL_ROWS"))
request = function()
  local id = math.random(0, rows - 1)
  return wrk.format(nil, nil, nil, string.format(
    '{"warehouse_id":"%s","statement":"SELECT * FROM t WHERE id = %d","wait_timeout":"30s"}', warehouse, id))
end
