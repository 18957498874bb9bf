"""Runs moto's server app for sbx: one request at a time, on a port the OS picks.

moto's backends are not safe under concurrent requests: two conditional writes to the same
DynamoDB item can both succeed when their threads interleave. Real AWS makes each call atomic,
so this runs each request under one lock. It binds the given port (0 = any free one), prints
"listening <port>" on stdout, and exits when its stdin closes, so it never outlives its parent.
"""

import logging
import os
import sys
import threading

from werkzeug.serving import make_server


def main() -> None:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]

    server = make_server(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)
    os.environ["MOTO_PORT"] = str(server.server_port)

    def exit_when_parent_goes() -> None:
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=exit_when_parent_goes, daemon=True).start()
    print(f"listening {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
