"""Publishing after the response: the visitor's time to response with Kinesis at 10 ms, in a fake
Lambda (bench/fake_lambda.py: the Runtime and Extensions APIs on 127.0.0.1, in a child process as
Lambda is not in the function's; the runtime's loop and app.py in this process, moto behind).
After-response's runtime client is hooked as awslambdaric's is on Lambda: its thread flushes
right after it posts the response, before it asks for the next invocation.

Six environments, invoked in turn in blocks with the same cache-hit redirect event:
``after-response`` (the stage default), ``sync`` (PutRecord before the answer), the same redirect
recording no click (its decision and answer only: what publishing adds is told from what the
redirect itself does), the baseline, a bare Chalice function behind the same fake Lambda that
answers 302 and makes no AWS call, and that bare function with an internal extension that only
asks for its next event (what taking part in the Extensions API costs in this harness: the
design after-response keeps only for a runtime whose client it does not know), and a toy
redirect (a dict lookup, a click id, the Location; how much room 1.1× leaves any redirect's own
work here). The stream's latency is injected (a sleep before each
PutRecord / PutRecords reaches moto). Each invocation starts ``pause_ms`` after its environment
is ready again, on every side: back to back, after-response's would meet a process that sat idle
through the flush, the others' one busy a moment before. Time to response: the caller's, from
the invocation's start until it has the response the runtime posted. Busy: until the runtime and every extension asked
for the next event (the environment's billed time; the flush is in it). Then the window: real
kills, each environment a process of its own SIGKILLed while its runtime thread's flush is in
PutRecords (the stream a file outside it); clicks lost counted per 10,000 kills.
"""

from __future__ import annotations

import time
from typing import Any

from bench.apigw import rest_event
from bench.fake_lambda import FakeLambda, Runtime, RuntimeClient, UnhookedRuntimeClient, fresh_app
from bench.figures import Budget, Figure, Result, median, percentile
from bench.stack import CHROME, HOST, SLUG, moto_stack

NAME = "after-response"
TITLE = "Publishing after the response: time to response, Kinesis at 10 ms (fake Lambda, moto)"
PARAMS: dict[str, dict[str, int]] = {
    # kills: processes SIGKILLed in the window (each a child process: seconds apiece)
    # pause_ms: every side's invocations start that long after its environment is ready again
    "full": {"n": 300, "block": 25, "warmup": 20, "kills": 3, "latency_ms": 10, "pause_ms": 5},
    "quick": {"n": 80, "block": 10, "warmup": 5, "kills": 1, "latency_ms": 10, "pause_ms": 5},
    "tiny": {"n": 6, "block": 3, "warmup": 1, "kills": 0, "latency_ms": 10, "pause_ms": 0},
}
QUERY = "fbclid=IwAR2xYz_-AbC"


class SlowKinesis:
    """The stream at a region's latency: each write waits ``seconds`` before it reaches moto."""

    def __init__(self, real: Any, seconds: float):
        self.real, self.seconds = real, seconds

    def put_record(self, **kw: Any) -> Any:
        time.sleep(self.seconds)
        return self.real.put_record(**kw)

    def put_records(self, **kw: Any) -> Any:
        time.sleep(self.seconds)
        return self.real.put_records(**kw)


def bare_app() -> Any:
    """The baseline: a Chalice function with the redirect's route that answers 302, no AWS."""
    from chalice import Chalice, Response

    app = Chalice(app_name="rebound-bench-bare")

    @app.route("/{slug}", methods=["GET", "HEAD"])
    def short_link(slug: str) -> Response:
        return Response(body="", status_code=302, headers={"Location": "https://shop.example/sale"})

    return app


def toy_app() -> Any:
    """A redirect reduced to a toy: the link from a dict, a random click id, the Location with
    the query forwarded; no consent, bots, rules, visitor or record. How much room the 1.1×
    budget leaves any redirect's own work in this harness."""
    import secrets
    from urllib.parse import urlencode

    from chalice import Chalice, Response

    app = Chalice(app_name="rebound-bench-toy")
    links = {(HOST, SLUG): "https://shop.example/sale"}

    @app.route("/{slug}", methods=["GET", "HEAD"])
    def short_link(slug: str) -> Response:
        req = app.current_request
        url = links.get(((req.headers.get("host") or "").lower(), slug), "https://shop.example/")
        query = {**(req.query_params or {}), "rb_cid": secrets.token_urlsafe(12)}
        return Response(
            body="",
            status_code=302,
            headers={"Location": f"{url}?{urlencode(query)}", "Cache-Control": "private"},
        )

    return app


def idle_extension(address: str) -> None:
    """An internal extension that does nothing but ask for its next event and read it, as a
    thread of the process: what taking part in the Extensions API costs any extension in this
    harness, without a flush (why after-response registers none where it knows the runtime's
    client)."""
    import threading

    from chalicelib.clicks.after_response import ExtensionsAPI

    api = ExtensionsAPI(address)
    api.register("bench-idle")

    def loop() -> None:
        while True:
            try:
                api.next_event()
            except Exception:  # the fake Lambda is gone
                return

    threading.Thread(target=loop, name="bench-idle-extension", daemon=True).start()


def _lambda_service(conn: Any) -> None:
    """The fake Lambda and its caller, in a process of their own (as Lambda is not in the
    function's process): invokes on request, answers (status, seconds to response, seconds
    busy)."""
    fake = FakeLambda().start()
    conn.send(fake.address)
    while (event := conn.recv()) is not None:
        response = fake.invoke(event)
        received = time.perf_counter()  # the caller has the response in hand
        ready = fake.wait_ready()
        done = time.perf_counter()
        rid = fake.invocations[-1]["id"]
        busy = done - fake.started_at[rid] if ready else float("nan")
        conn.send((response.get("statusCode"), received - fake.started_at[rid], busy))
    fake.close()


class Environment:
    """One execution environment: the runtime's loop (and an extension, if it has one)
    here, the fake Lambda in a child process."""

    def __init__(self, name: str) -> None:
        import multiprocessing

        self.name = name
        self.conn, child = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_lambda_service, args=(child,), daemon=True
        )
        self.process.start()
        self.address: str = self.conn.recv()
        self.to_response: list[float] = []
        self.busy: list[float] = []
        self.pause = 0.0  # seconds between the environment's ready and the next invocation

    def run(self, handler: Any, hooked: bool = False) -> Environment:
        # Only after-response's runtime is hooked, as on Lambda only its process would be.
        client = RuntimeClient if hooked else UnhookedRuntimeClient
        Runtime(self.address, handler, "rebound-local", client).start()
        return self

    def once(self, event: dict[str, Any], record: bool = True) -> None:
        if self.pause:
            time.sleep(self.pause)
        self.conn.send(event)
        status, to_response, busy = self.conn.recv()
        if status != 302:
            raise RuntimeError(f"{self.name}: expected a 302, got {status}")
        if busy != busy:  # NaN
            raise RuntimeError(f"{self.name}: the environment never asked for the next event")
        if record:
            self.to_response.append(to_response * 1e6)
            self.busy.append(busy * 1e6)

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(10)


class Dropped:
    """In place of the held clicks: the redirect that records nothing (its decision and answer
    only), to tell what publishing adds to the visitor's wait from what the redirect itself
    does."""

    def hold(self, *args: Any) -> bool:
        return True  # taken (and dropped): a falsy answer would make the redirect publish itself


def app_environment(mode: str, latency: float, publish: bool = True) -> Environment:
    env = Environment(mode if publish else "no-publish")
    module = fresh_app(
        {
            "REBOUND_PUBLISH_MODE": mode,
            "AWS_LAMBDA_RUNTIME_API": env.address,
            "AWS_LAMBDA_FUNCTION_NAME": "rebound-local",
        },
        name=f"app_{mode.replace('-', '_')}{'' if publish else '_no_publish'}",
    )
    handler = module.redirect_handler()
    handler.publisher.kinesis = SlowKinesis(handler.publisher.kinesis, latency)
    if not publish:
        handler.held = Dropped()
    if mode == "after-response" and not module.PUBLISH_AFTER_RESPONSE:
        raise RuntimeError("after-response did not start")
    return env.run(module.app, hooked=mode == "after-response" and publish)


class FileStream:
    """The stream outside the process: each record a PutRecords call takes is one line of a file,
    written unbuffered, so it is there whatever happens to the writer after the call."""

    def __init__(self, path: str):
        self.file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the process

    def put_records(self, **kw: Any) -> Any:
        for record in kw["Records"]:
            self.file.write(record["Data"].replace(b"\n", b" ") + b"\n")
        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1"} for _ in kw["Records"]]}

    def put_record(self, **kw: Any) -> Any:
        self.put_records(Records=[kw])
        return {"SequenceNumber": "1"}


def say(line: str) -> None:
    """One line on the real stdout in one write(2): the flushing thread and the caller's both
    say things, and print() writes a line's parts one call each, which two threads interleave
    (seen in CI: "ANSWEREDWINDOW", then the parent missed both words)."""
    import os
    import sys

    os.write(sys.__stdout__.fileno(), f"{line}\n".encode())


class Stuck:
    """Kinesis that never answers the held click's PutRecords: the window, held open until the
    process is killed. It says so (``WINDOW`` on the real stdout) once it is in the call."""

    def put_records(self, **kw: Any) -> Any:
        import threading

        say("WINDOW")
        threading.Event().wait(60)  # the parent kills the process long before this ends
        raise SystemExit("not killed")

    put_record = put_records


def killed_child(stream_file: str, invocations: int) -> None:
    """One execution environment (fake Lambda, app.py in after-response mode, moto in-process
    for the rest, the stream in ``stream_file``): ``invocations`` redirects, each one's click
    flushed before the next starts; the last one's flush is stuck in PutRecords (``WINDOW``),
    where the parent SIGKILLs the process. Prints ``ANSWERED <click id>`` per 302 received."""
    import io
    import threading
    from contextlib import redirect_stdout

    event = rest_event(f"/{SLUG}", host=HOST, user_agent=CHROME, query=QUERY)
    with redirect_stdout(io.StringIO()), moto_stack():  # quiet: the EMF lines
        fake = FakeLambda().start()
        module = fresh_app(
            {
                "REBOUND_PUBLISH_MODE": "after-response",
                "AWS_LAMBDA_RUNTIME_API": fake.address,
                "AWS_LAMBDA_FUNCTION_NAME": "rebound-local",
            },
            name="app_killed",
        )
        handler = module.redirect_handler()
        handler.publisher.kinesis = FileStream(stream_file)
        Runtime(fake.address, module.app, "rebound-local").start()
        for i in range(invocations):
            if not fake.wait_ready(10):
                raise RuntimeError(f"the environment is not ready: {fake.state()}")
            if i == invocations - 1:
                handler.publisher.kinesis = Stuck()
            response = fake.invoke(event)
            cid = response["headers"]["Location"].split("rb_cid=")[1].split("&")[0]
            say(f"ANSWERED {cid}")
        threading.Event().wait(60)  # killed in here


KILL_AFTER = 5  # redirects an environment answers before it is killed in the last one's window


def kills_in_the_window(kills: int, invocations: int = KILL_AFTER) -> tuple[int, int, int]:
    """(clicks lost, clicks answered, kills): ``kills`` environments, each a process of its own
    that answers ``invocations`` redirects and is killed with SIGKILL while its runtime thread's
    flush of the last one is in PutRecords. Lost: answered and not on the stream."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    lost = answered_total = 0
    root = Path(__file__).resolve().parent.parent
    for _ in range(kills):
        with tempfile.TemporaryDirectory() as tmp:
            stream = Path(tmp) / "stream.jsonl"
            stream.touch()
            errors = (Path(tmp) / "stderr.txt").open("w+")
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.after_response", str(stream), str(invocations)],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            answered: list[str] = []
            in_window = False
            try:
                assert proc.stdout is not None
                for line in proc.stdout:  # bounded: the child gives up after 60 s
                    word, _, rest = line.strip().partition(" ")
                    if word == "ANSWERED":
                        answered.append(rest)
                    elif word == "WINDOW":
                        # The flush of the last click may say so before the caller's thread
                        # prints its 302 (they race): kill once both are in, in either order.
                        in_window = True
                    if in_window and len(answered) == invocations:
                        break
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                errors.seek(0)
                said = errors.read()[-3000:]
                errors.close()
            if len(answered) != invocations:
                raise RuntimeError(
                    f"the child answered {len(answered)} of {invocations}; its stderr:\n{said}"
                )
            on_stream = {
                json.loads(line)["click"]["click_id"]
                for line in stream.read_bytes().splitlines()
                if line.strip()
            }
            lost += sum(1 for cid in answered if cid not in on_stream)
            answered_total += len(answered)
    return lost, answered_total, kills


def run(*, n: int, block: int, warmup: int, kills: int, latency_ms: int, pause_ms: int) -> Result:
    started = time.perf_counter()
    result = Result(
        NAME,
        TITLE,
        params={
            "n": n,
            "block": block,
            "warmup": warmup,
            "kills": kills,
            "latency_ms": latency_ms,
            "pause_ms": pause_ms,
        },
    )
    latency = latency_ms / 1000
    event = rest_event(f"/{SLUG}", host=HOST, user_agent=CHROME, query=QUERY)
    envs: list[Environment] = []
    with moto_stack():
        try:
            after = app_environment("after-response", latency)
            envs.append(after)
            sync = app_environment("sync", latency)
            envs.append(sync)
            quiet = app_environment("sync", latency, publish=False)
            envs.append(quiet)
            bare = Environment("bare").run(bare_app())
            envs.append(bare)
            idle = Environment("bare+extension")
            envs.append(idle)
            idle_extension(idle.address)
            idle.run(bare_app())
            toy = Environment("toy redirect").run(toy_app())
            envs.append(toy)
            sides = [after, sync, quiet, bare, idle, toy]
            for env in sides:
                env.pause = pause_ms / 1000
            for env in sides:
                for _ in range(warmup):
                    env.once(event, record=False)
            done, flip = 0, False
            while done < n:
                k = min(block, n - done)
                for env in reversed(sides) if flip else sides:
                    for _ in range(k):
                        env.once(event)
                done += k
                flip = not flip
            lost, answered, killed = kills_in_the_window(kills) if kills else (0, 0, 0)
        finally:
            for env in envs:
                env.close()
            from chalicelib.clicks import after_response

            after_response.HELD.discard()
            after_response._started = None

    bare_name = "bare Chalice function, no AWS call, same fake Lambda"
    a, s, b = after.to_response, sync.to_response, bare.to_response
    q = quiet.to_response
    result.figures += [
        Figure(
            "cache hit: time to response, after-response (median)",
            median(a),
            "µs",
            median(b),
            bare_name,
            Budget(1.1),
        ),
        Figure(
            "cache hit: time to response, after-response vs the redirect publishing nothing "
            "(median)",
            median(a),
            "µs",
            median(q),
            "the same redirect recording no click, same fake Lambda",
            Budget(1.1),
            note="what publishing after the response adds to the visitor's wait",
        ),
        Figure(
            "cache hit: time to response, the redirect publishing nothing (median)",
            median(q),
            "µs",
            median(b),
            bare_name,
            note="the redirect's own work (the decision): not publishing's",
        ),
        Figure(
            "bare function with an idle internal extension: time to response (median)",
            median(idle.to_response),
            "µs",
            median(b),
            bare_name,
            note="taking part in the Extensions API, nothing else: why after-response uses "
            "none where it knows the runtime's client (its thread flushes after the post)",
        ),
        Figure(
            "a toy redirect (a dict lookup, a click id, the Location): time to response (median)",
            median(toy.to_response),
            "µs",
            median(b),
            bare_name,
            note="no consent, bots, rules, visitor or record: the room 1.1× leaves any "
            "redirect's own work in this harness",
        ),
        Figure(
            "cache hit: time to response, after-response (p99)",
            percentile(a, 99),
            "µs",
            percentile(b, 99),
            bare_name,
        ),
        Figure(
            "cache hit: time to response, sync (median)",
            median(s),
            "µs",
            median(b),
            bare_name,
        ),
        Figure(
            "cache hit: time to response, after-response vs sync (median)",
            median(a),
            "µs",
            median(s),
            "sync: PutRecord before the answer",
            note=f"{(median(s) - median(a)) / 1000:.1f} ms sooner",
        ),
        Figure(
            "environment busy per invocation (response + flush), after-response (median)",
            median(after.busy),
            "µs",
            median(sync.busy),
            "sync: the same invocation",
            note="billed duration: the flush is still in it",
        ),
        Figure(
            "the window: from the response until the flush is done (median)",
            median([x - y for x, y in zip(after.busy, a, strict=True)]),
            "µs",
            note="a process killed in it loses the click it held",
        ),
    ]
    if killed:
        result.figures.append(
            Figure(
                "clicks lost per 10,000 processes killed in the window (SIGKILL)",
                lost / killed * 10_000,
                "clicks",
                0.0,
                "sync: nothing held after the response",
                note=f"{killed} processes, each SIGKILLed in its {KILL_AFTER}th flush: {lost} "
                f"of {answered} answered clicks lost, only the held one; those before on the "
                "stream",
            )
        )
    result.notes.append(
        f"GET /{SLUG}?{QUERY} on {HOST} (a cache hit), {n} invocations a side in blocks of "
        f"{block}, alternating, each {pause_ms} ms after its environment is ready again (back to "
        "back, the sides differ in how long the process sat idle before the invocation: "
        "after-response waited out the flush, the others had just answered; that alone moved "
        "the ratio to the redirect publishing nothing by about 0.3); "
        f"Kinesis writes delayed {latency_ms} ms. The fake Lambda and its "
        "caller run in a child process; the runtime loops, the apps and moto here; only "
        "after-response's runtime client is hooked (its thread flushes after the post)."
    )
    result.seconds = time.perf_counter() - started
    return result


if __name__ == "__main__":  # the killed environment of kills_in_the_window
    import sys

    killed_child(sys.argv[1], int(sys.argv[2]))
