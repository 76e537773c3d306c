"""The local stack: the embedded AWS emulation, the same resources as production, the API, a worker.

`make run` runs this in the foreground. State lives as long as the process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from chalicelib.aws.names import LOCAL_STAGE
from infra.provision import PROJECT, STACK_NAME, load_app, local_environment, provision
from rebound import target

EXAMPLE = PROJECT / "examples" / "links.yaml"
SWITCH_INTERVAL = 0.0005  # seconds: see run_local_stack

log = logging.getLogger("rebound.local")


def start_aws(port: int) -> Any:
    """moto's server, in this process, on loopback only."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def seed_secrets(config: Any) -> list[str]:
    """Give every credential reference of the config a random local value, unless it has one.

    Locally nothing reaches a real platform (dry run), but the values must exist so requests
    can be built exactly and conversion postbacks can be signed (`rebound sign`).
    """
    import secrets as random_secrets

    from chalicelib.aws.clients import client

    refs = set()
    specs = [d.spec() for d in config.domains] + list(config.platform_specs().values())
    for spec in specs + [w.spec() for w in config.webhooks]:
        refs |= {
            v
            for v in spec.values()
            if isinstance(v, str) and v.startswith(("ssm:", "secretsmanager:"))
        }
    created = []
    for ref in sorted(refs):
        kind, _, name = ref.partition(":")
        value = "local-" + random_secrets.token_urlsafe(24)
        try:
            if kind == "ssm":
                client("ssm").put_parameter(
                    Name=name, Value=value, Type="SecureString", Overwrite=False
                )
            else:
                client("secretsmanager").create_secret(Name=name, SecretString=value)
            created.append(ref)
        except Exception as exc:  # already there: keep it
            if "Exists" not in type(exc).__name__ and "Exists" not in str(exc):
                raise
    return created


def apply_file(path: Path, prune: bool = True) -> int:
    """Validate and apply a links file; returns the number of changes written."""
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from chalicelib.config.loader import load_config
    from chalicelib.links.plan import Specs, make_plan
    from chalicelib.links.store import ConfigStore

    config = load_config(path)
    seed_secrets(config)
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    the_plan = make_plan(Specs.from_config(config), store.read_all(), prune=prune)
    store.write(the_plan.writes())
    return len(the_plan.changes)


def _emulation(aws_port: int, conn: Any) -> None:
    """The local stack's second process: moto's server, then (once the first process has
    provisioned the stack and sent its environment) the worker that drives the stream
    consumers and schedules, as their own Lambda functions would, apart from the API. Until
    told to stop, or until the first process is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the first process stops this one
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sys.setswitchinterval(SWITCH_INTERVAL)  # moto answers the API between the worker's stretches
    aws = start_aws(aws_port)
    worker = None
    try:
        conn.send("up")
        env = conn.recv()
        if env is None:
            return
        os.environ.clear()
        os.environ.update(env)
        os.environ["REBOUND_PUBLISH_MODE"] = "sync"  # no redirect is served here: no flusher

        from chalicelib.aws.clients import client, reset_clients
        from rebound.worker import LocalWorker

        reset_clients()
        worker = LocalWorker(
            load_app(), client("kinesis"), target.LOCAL_REGION, sqs=client("sqs"), chores=chores()
        )
        worker.start()
        conn.send("worker")
        conn.recv()  # "stop", or EOFError: the first process is gone
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    finally:
        if worker is not None:
            worker.stop()
        aws.stop()


def run_local_stack(api_port: int | None = None, links_file: Path | None = None) -> None:
    import multiprocessing

    from chalicelib.aws.clients import reset_clients

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "moto"):  # every emulated AWS call would be logged
        logging.getLogger(noisy).setLevel(logging.WARNING)
    api_port = api_port or int(os.environ.get("REBOUND_PORT", "8000"))
    target.use_local()
    reset_clients()
    if target.local_stack_running():
        raise SystemExit(
            f"port {target.aws_port()} is taken (another local stack?): "
            "stop it or set REBOUND_AWS_PORT"
        )
    # Two processes, as Lambda's functions are apart: this one serves the API (and publishes
    # its clicks); the other runs the AWS emulation and the worker (archiver, dispatcher,
    # schedules), whose work would otherwise share this interpreter with every redirect.
    spawn = multiprocessing.get_context("spawn")
    conn, child_conn = spawn.Pipe()
    emulation = spawn.Process(
        target=_emulation, args=(target.aws_port(), child_conn), name="rebound-aws", daemon=True
    )
    emulation.start()
    try:
        if not conn.poll(60) or conn.recv() != "up":
            raise SystemExit("the AWS emulation did not start")
        outputs = provision()
        local_environment(outputs)
        changes = apply_file(links_file or EXAMPLE)
        # As the deployed stages: the server's thread answers, a background thread of this
        # process publishes the click right after (chalicelib/clicks/after_response.py), so no
        # request waits on the emulated Kinesis. REBOUND_PUBLISH_MODE=sync publishes before.
        os.environ.setdefault("REBOUND_PUBLISH_MODE", "after-response")
        app_module = load_app()
        # The flusher's work (boto3) holds the interpreter in stretches; a server thread back
        # from a socket call waits for it up to the switch interval (5 ms by default), on every
        # send. 0.5 ms keeps a redirect's wait on the flusher short.
        sys.setswitchinterval(SWITCH_INTERVAL)
        conn.send(dict(os.environ))
        if not conn.poll(60) or conn.recv() != "worker":
            raise SystemExit("the local worker did not start")
        _serve(app_module, api_port, links_file, changes)
    finally:
        from chalicelib.clicks import after_response

        after_response.stop()  # what was answered is published before the emulation stops
        with contextlib.suppress(OSError):
            conn.send("stop")
        emulation.join(15)
        if emulation.is_alive():
            emulation.terminate()
        print("Rebound local stack stopped.", flush=True)


def _serve(app_module: Any, api_port: int, links_file: Path | None, changes: int) -> None:
    from chalice.config import Config
    from chalice.local import create_local_server

    config = Config.create(chalice_stage=LOCAL_STAGE, app_name="rebound", project_dir=str(PROJECT))
    server = create_local_server(app_module.app, config, "127.0.0.1", api_port)
    print(
        f"\nRebound local stack is up.\n"
        f"  AWS emulation  {target.local_endpoint()}  (stack {STACK_NAME}, stage {LOCAL_STAGE})\n"
        f"  API            http://127.0.0.1:{api_port}\n"
        f"  Links          {links_file or EXAMPLE.relative_to(PROJECT)} applied ({changes} items)\n\n"
        f"Try:\n"
        f"  curl -i http://go.localhost:{api_port}/spring-sale\n"
        f"  curl -i -A 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)' "
        f"http://go.localhost:{api_port}/pricing\n"
        f"  curl -i http://go.localhost:{api_port}/_/health\n"
        f"  .venv/bin/rebound --local plan my-links.yaml\n"
        f"  .venv/bin/rebound --local apply my-links.yaml\n"
        f"  .venv/bin/rebound --local export\n"
        f"  .venv/bin/rebound --local query --saved clicks_per_link\n"
        f"  .venv/bin/rebound --local platform-requests\n"
        f"Ctrl-C stops it.\n",
        flush=True,
    )

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    with contextlib.suppress(KeyboardInterrupt):
        server.server.serve_forever(poll_interval=0.2)


def chores() -> list[tuple[float, Any]]:
    """Periodic local jobs besides the app's own schedules (filled in as features land)."""
    return []
