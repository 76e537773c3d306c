"""The local stack under load: redirects per second and p99 latency with wrk, on loopback.

The bench starts `python -m rebound.cli local` on free ports (as `make run` does), waits for
``/_/health``, and alternates wrk runs on a redirect (``Host: go.localhost``, a browser
User-Agent) with the same runs on the baseline: a bare Chalice app on Chalice's local server
answering 302 with an empty body (bench/chalice_server.py), so the same HTTP server code without
the link, the click, moto or the worker. A Lua script counts every status, so a single non-3xx
redirect shows. ``/_/health`` on the stack is measured too, for reference.

The stack runs the stage's ``after-response`` mode: the server's thread answers and a background
thread of the stack publishes the click right after (chalicelib/clicks/after_response.py).

``/_/health`` is not the baseline: Chalice's local server writes the headers and the body of a
response in two sends, so on a keep-alive connection every response with a body waits for the
client's delayed ACK (Nagle), about 40 ms; the redirect's empty body does not.

When wrk is missing it is installed with apt-get (root only); otherwise a small Python load
generator stands in, and the result says so. The local stack is two Python processes
(rebound/local.py): the API with its after-response flusher in one, moto's server and the worker
that drives the archiver and the dispatcher in the other; all of it shares the machine's cores
with wrk and the baseline's server.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.figures import Budget, Figure, Result
from bench.interpreter import stop
from bench.memory import free_port, wait_for_port
from bench.stack import CHROME, HOST

NAME = "local-stack"
TITLE = "Local stack (`make run`) under load on loopback"
PARAMS: dict[str, dict[str, object]] = {
    "full": {"seconds": 20, "connections": 16, "tool": "auto"},
    "quick": {"seconds": 3, "connections": 8, "tool": "auto"},
    "tiny": {"seconds": 0.5, "connections": 2, "tool": "python"},
}
PROJECT = Path(__file__).resolve().parent.parent
REDIRECT_PATH = "/spring-sale"  # examples/links.yaml, applied by the local stack at start
HEALTH_PATH = "/_/health"

LUA = """
wrk.headers["Host"] = "%(host)s"
wrk.headers["User-Agent"] = "%(agent)s"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local totals, parts = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do totals[status] = (totals[status] or 0) + n end
  end
  for status, n in pairs(totals) do parts[#parts + 1] = string.format('"%%d":%%d', status, n) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
    '"socket_errors":%%d,"statuses":{%%s}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, table.concat(parts, ",")))
end
"""


@dataclass
class Load:
    """One load run: how many requests, in how long, how fast, with which statuses."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def outside(self, low: int, high: int) -> int:
        """Responses whose status is not in [low, high], plus socket errors."""
        wrong = sum(n for status, n in self.statuses.items() if not low <= status <= high)
        return wrong + self.socket_errors


def ensure_wrk() -> tuple[str | None, str]:
    """wrk's path (installed with apt-get when missing and we are root), and a note."""
    found = shutil.which("wrk")
    if found:
        return found, ""
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                return None, f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-300:]}"
        found = shutil.which("wrk")
        if found:
            return found, "wrk installed with apt-get"
    return None, "wrk is not installed (and cannot be installed here: not root or no apt-get)"


def wrk_run(wrk: str, url: str, seconds: float, connections: int, script: Path) -> Load:
    cmd = [
        wrk,
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line.split(" ", 1)[1])
    return Load(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        socket_errors=data["socket_errors"],
        statuses=Counter({int(k): v for k, v in data["statuses"].items()}),
    )


def python_run(port: int, path: str, seconds: float, connections: int) -> Load:
    """A small closed-loop load generator: one keep-alive connection per thread."""
    headers = {"Host": HOST, "User-Agent": CHROME}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        mine: list[float] = []
        seen: Counter[int] = Counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                continue
            mine.append(time.perf_counter() - t0)
            seen[response.status] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))] * 1000

    return Load(
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=pct(50) if latencies else 0.0,
        p99_ms=pct(99) if latencies else 0.0,
        socket_errors=errors[0],
        statuses=statuses,
    )


@contextmanager
def local_stack(timeout: float = 90) -> Iterator[int]:
    """`rebound local` as a subprocess on free ports; yields the API port; stops it after."""
    api_port, aws_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("REBOUND_STAGE", "REBOUND_LAKE_BUCKET")
    }
    env.update(REBOUND_PORT=str(api_port), REBOUND_AWS_PORT=str(aws_port), PYTHONUNBUFFERED="1")
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rebound.cli", "local"],
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(api_port, proc, log, timeout)
            yield api_port
        finally:
            stop(proc, signal.SIGINT, timeout=15)


@contextmanager
def bare_chalice_server(timeout: float = 30) -> Iterator[int]:
    """bench/chalice_server.py as a subprocess on a free port; yields the port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.chalice_server", "--port", str(port)],
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, timeout)
        yield port
    finally:
        stop(proc)


def _wait_healthy(port: int, proc: subprocess.Popen, log, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the local stack exited with {proc.returncode}:\n{log.read()}")
        try:
            if _get(port, HEALTH_PATH)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    log.seek(0)
    raise RuntimeError(
        f"the local stack did not answer {HEALTH_PATH} in {timeout} s:\n{log.read()}"
    )


def _get(port: int, path: str) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": HOST, "User-Agent": CHROME})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location")
    finally:
        conn.close()


def run(*, seconds: float, connections: int, tool: str = "auto") -> Result:
    started = time.perf_counter()
    wrk, note = ensure_wrk() if tool in ("auto", "wrk") else (None, "")
    if wrk is None and tool == "wrk":
        raise RuntimeError(note)
    result = Result(
        NAME,
        TITLE,
        params={"seconds": seconds, "connections": connections, "tool": "wrk" if wrk else "python"},
    )
    if note:
        result.notes.append(note)
    if wrk is None:
        result.notes.append(
            "Load from a Python load generator (threads, keep-alive), not wrk: it shares the CPU "
            "with the stack and is slower; compare only the ratios."
        )
    runs = 2 if seconds >= 10 else 1  # ABBA halves on a full run
    each = seconds / runs
    loads: dict[str, list[Load]] = {"redirect": [], "baseline": [], "health": []}

    def load(port: int, path: str, duration: float, warm: bool = False) -> Load:
        if wrk:
            url = f"http://127.0.0.1:{port}{path}"
            if warm:  # connections, caches, the first clicks' downstream work
                wrk_run(wrk, url, 1, connections, script)
            return wrk_run(wrk, url, duration, connections, script)
        if warm:
            python_run(port, path, min(1.0, duration), connections)
        return python_run(port, path, duration, connections)

    with (
        tempfile.TemporaryDirectory() as tmp,
        local_stack() as port,
        bare_chalice_server() as base_port,
    ):
        status, location = _get(port, REDIRECT_PATH)
        if not 300 <= status < 400:
            raise RuntimeError(f"GET {REDIRECT_PATH} answered {status}, not a redirect")
        script = Path(tmp) / "count.lua"
        script.write_text(LUA % {"host": HOST, "agent": CHROME})
        order = ["redirect", "baseline", "baseline", "redirect"][: 2 * runs]
        for i, key in enumerate(order):
            target = port if key == "redirect" else base_port
            loads[key].append(load(target, REDIRECT_PATH, each, warm=i < 2))
        loads["health"].append(load(port, HEALTH_PATH, max(1.0, seconds / 4)))

    red, base, health = (_merge(loads[k]) for k in ("redirect", "baseline", "health"))
    base_name = "bare Chalice app, same local server (302, empty body)"
    result.figures += [
        # Goals of issue 20: the stack answers first and publishes after (its after-response
        # flusher thread), so a redirect no longer waits on moto's Kinesis.
        Figure(
            "redirects per second", red.rate, "req/s", base.rate, base_name, Budget(0.2, op=">=")
        ),
        Figure("p99 latency", red.p99_ms, "ms", base.p99_ms, base_name),
        Figure("median latency", red.p50_ms, "ms", base.p50_ms, base_name, Budget(3.0)),
        Figure(
            "non-3xx responses (and socket errors)",
            red.outside(300, 399),
            "responses",
            base.outside(300, 399),
            base_name,
            Budget(0, on="value", op="=="),
        ),
        Figure(
            f"GET {HEALTH_PATH} on the stack: requests per second",
            health.rate,
            "req/s",
            base.rate,
            base_name,
            note=f"median {health.p50_ms:.1f} ms, p99 {health.p99_ms:.1f} ms; "
            f"non-2xx {health.outside(200, 299)}",
        ),
    ]
    result.notes.append(
        f"GET {REDIRECT_PATH} (Host {HOST}, Chrome UA) → {status} {location}; "
        f"{red.requests} redirects, statuses {dict(red.statuses)}; {connections} connections, "
        f"{seconds:g} s per side in {runs} alternating run(s); p99 is the worst run's."
    )
    result.seconds = time.perf_counter() - started
    return result


def _merge(loads: list[Load]) -> Load:
    total = Load(0, 0.0, 0.0, 0.0)
    for load in loads:
        total.requests += load.requests
        total.seconds += load.seconds
        total.socket_errors += load.socket_errors
        total.statuses.update(load.statuses)
        total.p50_ms = max(total.p50_ms, load.p50_ms)
        total.p99_ms = max(total.p99_ms, load.p99_ms)
    return total
