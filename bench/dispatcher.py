"""Dispatcher throughput: platform events per second to a fake platform on loopback, with
batching vs one event a request.

Three pairs, each timed alternately in the same run:

1. the whole ``chalicelib.dispatch.Dispatcher.handle`` on moto, for Kinesis batches of clicks
   whose audience sends to meta and tiktok (both pointed at the fake platform), as shipped
   (up to ``MAX_BATCH`` events a request) vs the same dispatcher with ``MAX_BATCH = 1``;
2. the same with the idempotency ledger in memory instead of DynamoDB, which takes moto's time
   per call (two calls per event) out of both sides;
3. the transport alone: Meta's adapter (``build_requests``) and
   ``chalicelib.platforms.http.send_with_retries``, 1,000 events a request vs one.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.aws_calls import CallCounter
from bench.clicks import FIRST_SEQ, envelopes, kinesis_event
from bench.figures import Figure, Result, median
from bench.stack import DOMAIN, moto_stack

NAME = "dispatcher"
TITLE = "Dispatcher: events per second to a fake platform on loopback"
PARAMS: dict[str, dict[str, int]] = {
    "full": {"events": 1000, "rounds": 5, "batches": 4, "batch_size": 250},
    "quick": {"events": 300, "rounds": 2, "batches": 1, "batch_size": 200},
    "tiny": {"events": 6, "rounds": 1, "batches": 1, "batch_size": 4},
}
PLATFORMS = ("meta", "tiktok")
TOKEN = "bench-meta-token"  # noqa: S105 - sent to the fake platform only


class FakePlatform:
    """Answers every POST with 200 and a body that both Meta and TikTok read as success."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = b'{"events_received":1,"code":0,"message":"OK"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @contextmanager
    def running(self) -> Iterator[FakePlatform]:
        self._thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            self._thread.join(timeout=5)


def meta_events(n: int, seed: int = 0) -> list[Any]:
    """The page views the dispatcher would make for ``n`` human clicks."""
    from chalicelib.dispatch.events import wanted_events

    out = []
    for envelope in envelopes(n * 2, seed=seed):
        out += [w.event for w in wanted_events(envelope, {}) if w.platform == "meta"]
    return out[:n]


def send_all(events: list[Any], url: str, batched: bool) -> int:
    """Build and send Meta requests for ``events``; returns the number of requests."""
    from chalicelib.platforms.http import send_with_retries
    from chalicelib.platforms.meta import PLATFORM as meta

    settings = {"pixel_id": "1234567890", "endpoint": url}
    secrets = {"access_token": TOKEN}
    now = datetime.now(UTC)
    groups = [events] if batched else [[e] for e in events]
    sent = 0
    for group in groups:
        requests, rejected = meta.build_requests(group, settings, secrets, now)
        if rejected:
            raise RuntimeError(f"meta rejected events: {rejected[:3]}")
        for request in requests:
            outcome, _ = send_with_retries(request, meta.classify, attempts=1, timeout=10)
            if not outcome.ok:
                raise RuntimeError(f"fake platform answered {outcome}")
            sent += 1
    return sent


class MemoryLedger:
    """The ledger's contract (claim once, then settle or release) in a dict: no DynamoDB."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, now: datetime, until: datetime | None = None) -> Any:
        from chalicelib.dispatch.ledger import PENDING, Claim, Claimed

        with self._lock:
            found = self.status.get(key)
            if found is None:
                self.status[key] = PENDING
                return Claimed(Claim.MINE)
            return Claimed(Claim.IN_FLIGHT if found == PENDING else Claim.SETTLED)

    def settle_many(self, keys: Any, status: str, reason: str, now: Any = None) -> None:
        with self._lock:
            for key in keys:
                self.status[key] = status

    def release_many(self, keys: Any) -> None:
        with self._lock:
            for key in keys:
                self.status.pop(key, None)


@contextmanager
def one_event_per_request() -> Iterator[None]:
    """The platforms with ``MAX_BATCH = 1``: the dispatcher without batching."""
    from chalicelib.platforms.registry import platform

    platforms = [platform(name) for name in PLATFORMS]
    saved = [p.MAX_BATCH for p in platforms]
    for p in platforms:
        p.MAX_BATCH = 1
    try:
        yield
    finally:
        for p, size in zip(platforms, saved, strict=True):
            p.MAX_BATCH = size


def run(*, events: int, rounds: int, batches: int, batch_size: int) -> Result:
    started = time.perf_counter()
    params = {"events": events, "rounds": rounds, "batches": batches, "batch_size": batch_size}
    result = Result(NAME, TITLE, params=params)
    rates: dict[str, list[float]] = defaultdict(list)
    with FakePlatform().running() as fake:
        pool = meta_events(events)
        send_all(pool[:5], fake.url, batched=False)  # warm up: imports, first connection
        for i in range(rounds):
            order = [True, False] if i % 2 == 0 else [False, True]
            for batched in order:
                t0 = time.perf_counter()
                send_all(pool, fake.url, batched)
                key = "batched" if batched else "single"
                rates[key].append(len(pool) / (time.perf_counter() - t0))

        counter = CallCounter()
        sent = ddb_calls = 0
        seed = 100
        with moto_stack():
            for ledger in ("dynamodb", "memory"):
                service = _dispatcher(fake.url, counter, ledger == "dynamodb")
                for i in range(batches + 1):  # the first round warms up
                    for batched in (True, False) if i % 2 == 0 else (False, True):
                        seed += 1
                        counter.reset()
                        rate, sent_now = _dispatch(service, batch_size, seed, batched)
                        if i:
                            rates[f"{ledger}, {'batched' if batched else 'single'}"].append(rate)
                            if ledger == "dynamodb" and batched:
                                sent += sent_now
                                ddb_calls += counter.counts["dynamodb"]

    single = "the same, one event a request"
    result.figures += [
        Figure(
            "Dispatcher.handle, ledger in DynamoDB (moto), batched as shipped",
            median(rates["dynamodb, batched"]),
            "events/s",
            median(rates["dynamodb, single"]),
            single,
            note="meta + tiktok; two DynamoDB calls per event (ledger) dominate both sides",
        ),
        Figure(
            "Dispatcher.handle, ledger in memory, batched as shipped",
            median(rates["memory, batched"]),
            "events/s",
            median(rates["memory, single"]),
            single,
            note="meta + tiktok; config, secrets and the outcome log still on moto",
        ),
        Figure(
            f"Meta adapter + send alone, {_batch_size()} events a request",
            median(rates["batched"]),
            "events/s",
            median(rates["single"]),
            "one event a request",
        ),
        Figure(
            "Dispatcher.handle: DynamoDB calls per event sent",
            ddb_calls / max(1, sent),
            "calls",
            note="ledger claim (conditional PutItem) + settle (UpdateItem), one event at a time",
        ),
    ]
    result.notes.append(
        f"Dispatcher: {batches} Kinesis batches of {batch_size} clicks per side and ledger "
        f"(4 in 5 human, 2 events each: meta and tiktok), batched and one-a-request alternating; "
        f"transport: {len(pool)} Meta page views per round, {rounds} rounds. The fake platform "
        "runs in this process (threads); urllib opens a new connection per request."
    )
    result.seconds = time.perf_counter() - started
    return result


def _dispatch(service: Any, batch_size: int, seed: int, batched: bool) -> tuple[float, int]:
    """One Kinesis batch of fresh clicks through ``service``: (events per second, events sent)."""
    items = envelopes(batch_size, seed=seed)
    event = kinesis_event(items, first_seq=FIRST_SEQ + seed * batch_size)
    want = len(PLATFORMS) * sum(1 for e in items if e["click"]["platforms"])
    with nullcontext() if batched else one_event_per_request():
        t0 = time.perf_counter()
        report = service.dispatch(event)
        reply = report.response()
        elapsed = time.perf_counter() - t0
    sent = sum(report.sent.values())
    if reply["batchItemFailures"] or sent != want:
        raise RuntimeError(f"dispatcher sent {sent} of {want}: {reply}")
    return sent / elapsed, sent


def _batch_size() -> int:
    from chalicelib.platforms.meta import PLATFORM as meta

    return meta.MAX_BATCH


def _dispatcher(url: str, counter: CallCounter, dynamodb_ledger: bool = True) -> Any:
    """A Dispatcher as app.py builds it, with meta and tiktok pointed at the fake platform."""
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from chalicelib.dispatch.dispatcher import ConfigView, Dispatcher
    from chalicelib.dispatch.ledger import Ledger
    from chalicelib.dispatch.sinks import DeadLetters, OutcomeLog
    from chalicelib.links.plan import Specs, make_plan
    from chalicelib.links.store import ConfigStore
    from chalicelib.secrets import Secrets

    names = Names.from_env()
    ssm = client("ssm")
    for name in ("meta", "tiktok"):
        ssm.put_parameter(Name=f"/bench/{name}", Value=TOKEN, Type="SecureString", Overwrite=True)
    platforms = {
        "meta": {"pixel_id": "1234567890", "access_token": "ssm:/bench/meta"},
        "tiktok": {"pixel_code": "C0DE1234", "access_token": "ssm:/bench/tiktok"},
    }
    store = ConfigStore(client("dynamodb"), names.links_table)
    specs = Specs(
        domains=[DOMAIN],
        platforms={k: {**v, "endpoint": url, "dry_run": False} for k, v in platforms.items()},
    )
    store.write(make_plan(specs, store.read_all()).writes())
    ddb = client("dynamodb")
    counter.watch(ddb)
    bucket = names.lake_bucket_name()
    return Dispatcher(
        config=ConfigView(ddb, names.links_table),
        secrets=Secrets(lambda: client("ssm"), lambda: client("secretsmanager")),
        ledger=Ledger(ddb, names.state_table) if dynamodb_ledger else MemoryLedger(),  # type: ignore[arg-type]
        dead_letters=DeadLetters(client("sqs"), names.platform_dlq),
        recorder=None,
        outcomes=OutcomeLog(client("s3"), bucket),
    )
