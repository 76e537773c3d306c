"""Peak RSS of a redirect process, and its first redirect (what a cold start leaves to it).

Each side runs in a fresh interpreter (bench/child.py) that imports its handler and serves
redirects in-process through the Lambda handler. AWS is a moto server in another process, on
loopback, so the figures are the redirect's own memory, as on Lambda; a second pair of runs puts
moto inside the process (as the tests do) to show what moto itself costs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.cold_start import lambda_env
from bench.figures import Budget, Figure, Result
from bench.interpreter import last_line, python, stop
from bench.stack import AWS_ENV, apply_links, environment

NAME = "memory"
TITLE = "Redirect process: peak RSS and the first redirect (fresh interpreter)"
PARAMS: dict[str, dict[str, int | bool]] = {
    "full": {"redirects": 1000, "moto_in_process": True},
    "quick": {"redirects": 200, "moto_in_process": True},
    "tiny": {"redirects": 5, "moto_in_process": False},
}
RSS_BUDGET = Budget(100, on="value")
MIB = 1024  # ru_maxrss is in KiB; Lambda's "MB" are MiB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextmanager
def moto_server() -> Iterator[dict[str, str]]:
    """A moto server in its own process with the stack and links; yields the clients' env."""
    from chalicelib.aws.clients import reset_clients
    from infra.provision import local_environment, provision

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        endpoint = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        with environment({**AWS_ENV, **endpoint}, drop=("AWS_PROFILE", "AWS_SESSION_TOKEN")):
            reset_clients()
            try:
                local_environment(provision())
                apply_links()
                yield {
                    **endpoint,
                    "REBOUND_LAKE_BUCKET": os.environ["REBOUND_LAKE_BUCKET"],
                    "AWS_ACCESS_KEY_ID": AWS_ENV["AWS_ACCESS_KEY_ID"],
                    "AWS_SECRET_ACCESS_KEY": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
                }
            finally:
                reset_clients()
    finally:
        stop(proc)


def child(side: str, redirects: int, env: dict[str, str], moto: bool = False) -> dict:
    args = ["-m", "bench.child", side, "--redirects", str(redirects), *(["--moto"] if moto else [])]
    return json.loads(last_line(python(*args, env=env, timeout=600)))


def run(*, redirects: int, moto_in_process: bool = True) -> Result:
    started = time.perf_counter()
    params = {"redirects": redirects, "moto_in_process": moto_in_process}
    result = Result(NAME, TITLE, params=params)
    stage = {"REBOUND_STAGE": "local", "REBOUND_LINK_CACHE_TTL": "30"}
    with moto_server() as aws:
        env = lambda_env("rebound-local", **stage, **aws)
        subject = child("subject", redirects, env)
        baseline = child("baseline", redirects, env)

    base = "bare Chalice function (boto3 + chalice, clients at import)"
    result.figures += [
        Figure(
            f"peak RSS after {redirects} redirects",
            subject["end_rss"] / MIB,
            "MB",
            baseline["end_rss"] / MIB,
            base,
            RSS_BUDGET,
            note="AWS over loopback HTTP: no moto in the process",
        ),
        Figure(
            "peak RSS after import (app: with warm-up)",
            subject["import_rss"] / MIB,
            "MB",
            baseline["import_rss"] / MIB,
            base,
        ),
        Figure(
            "peak RSS after boto3 and the clients (before the first redirect)",
            subject["clients_rss"] / MIB,
            "MB",
            baseline["clients_rss"] / MIB,
            base,
            note="the redirect makes 3 clients (DynamoDB, Kinesis, SQS), each from its own "
            "boto3 Session; the baseline 2",
        ),
        Figure(
            "cold start to the first response: import + first redirect",
            (subject["import_s"] + subject["first_s"]) * 1000,
            "ms",
            (baseline["import_s"] + baseline["first_s"]) * 1000,
            base,
            note="first redirect: cache miss, one GetItem + one PutRecord",
        ),
        Figure(
            "first redirect of the process (creates boto3 and the clients)",
            subject["first_s"] * 1000,
            "ms",
            baseline["first_s"] * 1000,
            "bare Chalice function's first request (clients made at import)",
            note=f"of which importing boto3 and creating the redirect handler's clients: "
            f"{subject['clients_s'] * 1000:.0f} ms",
        ),
        Figure(
            "warm redirect, median (AWS over loopback HTTP)",
            subject["median_s"] * 1e6,
            "µs",
            baseline["median_s"] * 1e6,
            base,
        ),
    ]
    if moto_in_process:
        keys = {k: AWS_ENV[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        in_process = lambda_env("rebound-local", **stage, **keys)
        subject_moto = child("subject", redirects, in_process, moto=True)
        baseline_moto = child("baseline", redirects, in_process, moto=True)
        result.figures.insert(
            2,
            Figure(
                f"peak RSS with moto in the process, after {redirects} redirects",
                subject_moto["end_rss"] / MIB,
                "MB",
                baseline_moto["end_rss"] / MIB,
                base,
                note=f"moto + provisioned stack alone: {subject_moto['moto_rss'] / MIB:.0f} MB",
            ),
        )
    result.notes.append(
        "Peak RSS is the redirect process's own VmHWM (ru_maxrss on Linux keeps the parent's "
        "peak across fork and exec, so a child of this benchmark would report the parent's); "
        "the moto server runs in another process. MB = MiB, as Lambda counts memory. "
        "Steps of the redirect process: interpreter, `import app` (ua-parser's compiled regex "
        "sets are most of it), boto3 and the redirect handler's clients, then the redirects."
    )
    result.seconds = time.perf_counter() - started
    return result
