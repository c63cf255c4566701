-- Authenticated GET /Me with an OAuth access token of a service principal.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("PATCHBAY_ACCESS_TOKEN")
