-- Authenticated GET /Me with the admin token.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("PATCHBAY_TOKEN")
