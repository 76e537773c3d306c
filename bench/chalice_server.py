"""The local stack's baseline: a bare Chalice app on Chalice's own local server, answering every
``GET /{slug}`` with a 302 and an empty body (as the redirect does): the same HTTP server code
as `make run`, without the link, the click, moto or the worker. ``python -m bench.chalice_server
--port N``; stops on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any


def main() -> None:
    from chalice import Chalice, Response
    from chalice.config import Config
    from chalice.local import create_local_server

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port

    app = Chalice(app_name="rebound-bench-server")

    @app.route("/{slug}", methods=["GET", "HEAD"])
    def short_link(slug: str) -> Response:
        return Response(body="", status_code=302, headers={"Location": "https://shop.example/"})

    server = create_local_server(app, Config(chalice_stage="local"), "127.0.0.1", port)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
