"""A fresh Python interpreter running part of the project: what cold starts, memory peaks and the
rollup's DuckDB baseline are measured in."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def python(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` from the project's folder with this interpreter; raises with the end of
    its stderr when it fails."""
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"python {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The last line of its output: where the children print their result."""
    return proc.stdout.strip().splitlines()[-1]


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Ask a child process to end with ``sig``; kill it if it has not within ``timeout`` s."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
