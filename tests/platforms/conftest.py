"""A fake ad platform on 127.0.0.1: records every request, answers from a script."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.platforms import pace
from chalicelib.platforms.event import PlatformEvent

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (a free port): ``url``, ``start()``, ``stop()``."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


class FakePlatform(LoopbackServer):
    """``url`` to point an adapter at; ``received`` requests; ``answer()`` scripts responses."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: deque[tuple[int, bytes, dict[str, str]]] = deque()
        self.default: tuple[Any, ...] = (200, b"{}")  # (status, body[, headers])
        self.hold: threading.Event | None = None  # when given, answers wait for it: a slow platform
        self.arrived = threading.Event()  # a request came in
        self.answered = threading.Event()  # an answer went out
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake.arrived.set()
                if fake.hold is not None:
                    fake.hold.wait(timeout=60)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = urlsplit(self.path)
                with fake._lock:
                    fake.received.append(
                        Received(
                            self.command,
                            parts.path,
                            parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()},
                            raw,
                        )
                    )
                    entry = fake._script.popleft() if fake._script else fake.default
                status, body = entry[0], entry[1]
                headers = dict(entry[2]) if len(entry) > 2 else {}
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                fake.answered.set()

            do_PUT = do_GET = do_PATCH = do_DELETE = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.serve(Handler)

    def answer(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> FakePlatform:
        """Queue one answer (a dict/list is sent as JSON, bytes as they are, with ``headers``
        such as Retry-After or a text Content-Type); after the queue, ``default``."""
        data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        self._script.append((status, data, dict(headers or {})))
        return self


@pytest.fixture(autouse=True)
def fresh_paces():
    """Every test starts with full rate-limit buckets: an email tool's ``Pace`` is kept per
    process and account, so a test would otherwise wait, in real time, for the tokens an earlier
    test with the same key used up."""
    pace.reset()
    yield


@pytest.fixture
def platform():
    fake = FakePlatform().start()
    yield fake
    fake.stop()


def no_sleep(_seconds: float) -> None:
    pass


def make_event(**overrides: Any) -> PlatformEvent:
    """A conversion with everything a platform can use; override what the test is about."""
    values: dict[str, Any] = {
        "kind": "purchase",
        "event_id": "order-1001",
        "event_time": datetime(2026, 11, 23, 11, 0, 0, tzinfo=UTC),
        "click_time": datetime(2026, 11, 20, 9, 30, 15, 123000, tzinfo=UTC),
        "source_url": "https://go.brand.com/spring-sale",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
        "click_ids": {},
        "user": {},
        "value": 49.0,
        "currency": "EUR",
        "country": "DE",
        "visitor_id": None,
    }
    values.update(overrides)
    return PlatformEvent(**values)


def page_view(**overrides: Any) -> PlatformEvent:
    values: dict[str, Any] = {
        "kind": "page_view",
        "event_id": "01JCLICK0000000000000000AB",
        "event_time": datetime(2026, 11, 23, 11, 59, 0, tzinfo=UTC),
        "click_time": None,
        "value": None,
        "currency": None,
        "visitor_id": "v-4f1c2a",
    }
    values.update(overrides)
    return make_event(**values)
