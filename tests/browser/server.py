"""The app served by `chalice local` on a loopback port in a thread, as `make run` serves it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType


@contextmanager
def serve(app_module: ModuleType) -> Iterator[int]:
    """Serve the app on 127.0.0.1 (a free port, yielded) until the block ends."""
    from chalice.config import Config
    from chalice.local import CustomLocalChalice, LocalDevServer, create_local_server

    from infra.provision import PROJECT

    config = Config.create(chalice_stage="local", app_name="rebound", project_dir=str(PROJECT))
    app = app_module.app
    # create_local_server re-bases the app's class, which works once per app object.
    if isinstance(app, CustomLocalChalice):
        local = LocalDevServer(app, config, "127.0.0.1", 0)
    else:
        local = create_local_server(app, config, "127.0.0.1", 0)
    thread = threading.Thread(target=local.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield local.server.server_address[1]
    finally:
        local.server.shutdown()
        local.server.server_close()
        thread.join(timeout=5)
