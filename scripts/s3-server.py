"""A local S3 endpoint for patchbay's tests of table storage in a bucket: moto's S3 behind
werkzeug, on a free port of 127.0.0.1.

It takes one request at a time. moto checks a conditional write (If-None-Match: *) and then
writes, in two steps; S3 does both at once, and so does this server when requests do not
overlap. Delta commits rely on exactly that, and the tests check it.

Buckets whose names begin with `patchbay-unconditional-` stand for a store that ignores
conditional writes (as some S3-compatible stores did): the condition is dropped from requests
to them, so that a test can show patchbay refusing such a store.

Prints `s3-server: listening on http://127.0.0.1:<port>` once it serves, and serves until the
process given by --parent exits (the test run that started it).
"""

import argparse
import os
import sys
import threading
import time

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args()

    moto = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def app(environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/patchbay-unconditional-"):
            environ.pop("HTTP_IF_NONE_MATCH", None)
        with one_at_a_time:
            # The whole body is produced under the lock: moto's responses are not streamed.
            return list(moto(environ, start_response))

    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"s3-server: listening on http://127.0.0.1:{server.server_port}", flush=True)
    while True:
        try:
            os.kill(args.parent, 0)
        except ProcessLookupError:
            break
        time.sleep(1)
    server.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
