-- The bare server: no headers, the same reporting as the others.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
