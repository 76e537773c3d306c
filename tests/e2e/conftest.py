"""The local stack as a subprocess, on free loopback ports, stopped after the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
REBOUND = [sys.executable, "-m", "rebound.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, api_port: int, aws_port: int, proc: subprocess.Popen, log: Path):
        self.api_port = api_port
        self.aws_port = aws_port
        self.proc = proc
        self.log = log
        self.env = {**os.environ, "REBOUND_AWS_PORT": str(aws_port), "REBOUND_PORT": str(api_port)}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.api_port}{path}"

    def rebound(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*REBOUND, "--local", *args],
            env=self.env,
            capture_output=True,
            text=True,
            input=input,
            timeout=60,
            cwd=PROJECT,
        )


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    api_port, aws_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("stack") / "stack.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("REBOUND_STAGE", "REBOUND_LAKE_BUCKET")
    }
    env.update(REBOUND_PORT=str(api_port), REBOUND_AWS_PORT=str(aws_port), PYTHONUNBUFFERED="1")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*REBOUND, "local"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT
        )
    s = Stack(api_port, aws_port, proc, log)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"local stack exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(s.url("/_/health"), timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"local stack did not come up in 90 s:\n{log.read_text()}")
        time.sleep(0.3)
    yield s
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
