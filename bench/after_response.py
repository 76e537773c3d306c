"""Publishing after the response: the visitor's time to response with Kinesis at 10 ms, in a fake
Lambda (bench/fake_lambda.py: the Runtime and Extensions APIs on 127.0.0.1, in a child process as
Lambda is not in the function's; the runtime's loop, app.py and its internal extension in this
process, moto behind).

Three environments, invoked in turn in blocks with the same cache-hit redirect event:
``after-response`` (the stage default), ``sync`` (PutRecord before the answer), and the baseline,
a bare Chalice function behind the same fake Lambda that answers 302 and makes no AWS call. The
stream's latency is injected (a sleep before each PutRecord / PutRecords reaches moto). Time to
response: from the invocation's start to the runtime's post of its response (what Lambda hands
the caller). Busy: until the runtime and every extension asked for the next event (the
environment's billed time; the flush is in it). Then the window: a process killed between the
response and the end of the flush loses what it held, counted per 10,000 kills.
"""

from __future__ import annotations

import time
from typing import Any

from bench.apigw import rest_event
from bench.fake_lambda import FakeLambda, Runtime, fresh_app
from bench.figures import Budget, Figure, Result, median, percentile
from bench.stack import CHROME, HOST, SLUG, moto_stack

NAME = "after-response"
TITLE = "Publishing after the response: time to response, Kinesis at 10 ms (fake Lambda, moto)"
PARAMS: dict[str, dict[str, int]] = {
    "full": {"n": 300, "block": 25, "warmup": 20, "kills": 2000, "latency_ms": 10},
    "quick": {"n": 80, "block": 10, "warmup": 5, "kills": 300, "latency_ms": 10},
    "tiny": {"n": 6, "block": 3, "warmup": 1, "kills": 10, "latency_ms": 10},
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


def _lambda_service(conn: Any) -> None:
    """The fake Lambda and its caller, in a process of their own (as Lambda is not in the
    function's process): invokes on request, answers (status, seconds to response, seconds
    busy)."""
    fake = FakeLambda().start()
    conn.send(fake.address)
    while (event := conn.recv()) is not None:
        response = fake.invoke(event)
        ready = fake.wait_ready()
        done = time.perf_counter()
        rid = fake.invocations[-1]["id"]
        busy = done - fake.started_at[rid] if ready else float("nan")
        conn.send((response.get("statusCode"), fake.seconds_to_response(rid), busy))
    fake.close()


class Environment:
    """One execution environment: the runtime's loop (and the app's extension, if it has one)
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

    def run(self, handler: Any) -> Environment:
        Runtime(self.address, handler, "rebound-local").start()
        return self

    def once(self, event: dict[str, Any], record: bool = True) -> None:
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


def app_environment(mode: str, latency: float) -> Environment:
    env = Environment(mode)
    module = fresh_app(
        {
            "REBOUND_PUBLISH_MODE": mode,
            "AWS_LAMBDA_RUNTIME_API": env.address,
            "AWS_LAMBDA_FUNCTION_NAME": "rebound-local",
        },
        name=f"app_{mode.replace('-', '_')}",
    )
    handler = module.redirect_handler()
    handler.publisher.kinesis = SlowKinesis(handler.publisher.kinesis, latency)
    if mode == "after-response" and not module.PUBLISH_AFTER_RESPONSE:
        raise RuntimeError("after-response did not start: the extension did not register")
    return env.run(module.app)


def kills_in_the_window(kills: int) -> tuple[int, int, int]:
    """(clicks lost, clicks on the stream, kills): each redirect answers, then its process is
    killed before the flush; the invocations before had flushed. In-process, no latency."""
    from bench.stack import load_app
    from chalicelib.clicks.after_response import Held
    from chalicelib.redirect.handler import RedirectHandler

    module = load_app()
    base = module.redirect_handler()
    held = Held()
    handler = RedirectHandler(
        dynamodb=base.ddb,
        kinesis=base.publisher.kinesis,
        sqs=base.publisher.sqs,
        links_table=base.links_table,
        state_table=module.NAMES.state_table,
        stream=base.publisher.stream,
        fallback_queue=base.publisher.fallback_queue,
        cache_ttl=30,
        held=held,
    )
    headers = {"Host": HOST, "User-Agent": CHROME}
    lost = put = 0
    for i in range(kills):
        answer = handler.handle(
            method="GET", path=SLUG, query={}, headers=headers, source_ip="203.0.113.7"
        )
        assert answer.status == 302, answer
        held.answered()
        if i % 2:  # every other invocation is killed in the window
            lost += held.discard()
        else:
            put += held.flush()["stream"]
    module.redirect_handler.cache_clear()
    return lost, put, kills // 2


def run(*, n: int, block: int, warmup: int, kills: int, latency_ms: int) -> Result:
    started = time.perf_counter()
    result = Result(
        NAME,
        TITLE,
        params={"n": n, "block": block, "warmup": warmup, "kills": kills, "latency_ms": latency_ms},
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
            bare = Environment("bare").run(bare_app())
            envs.append(bare)
            sides = [after, sync, bare]
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
            lost, put, killed = kills_in_the_window(kills)
        finally:
            for env in envs:
                env.close()
            from chalicelib.clicks import after_response

            after_response.HELD.discard()
            after_response._started = None

    bare_name = "bare Chalice function, no AWS call, same fake Lambda"
    a, s, b = after.to_response, sync.to_response, bare.to_response
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
        Figure(
            "clicks lost per 10,000 processes killed in the window",
            lost / killed * 10_000 if killed else 0.0,
            "clicks",
            0.0,
            "sync: nothing held after the response",
            note=f"{killed} kills, {lost} lost; the {put} invocations in between all on the stream",
        ),
    ]
    result.notes.append(
        f"GET /{SLUG}?{QUERY} on {HOST} (a cache hit), {n} invocations a side in blocks of "
        f"{block}, alternating; Kinesis writes delayed {latency_ms} ms. The fake Lambda and its "
        "caller run in a child process; the runtime loop, the app, its extension and moto here."
    )
    result.seconds = time.perf_counter() - started
    return result
