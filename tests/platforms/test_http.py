from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.platforms.http import (
    MAX_RETRY_AFTER,
    Answer,
    HttpRequest,
    Outcome,
    TransportError,
    backoff,
    retry_after,
    send,
    send_with_retries,
)
from chalicelib.platforms.platform import classify_status

from .conftest import no_sleep


def request(url: str) -> HttpRequest:
    return HttpRequest(
        "POST",
        url + "/v1/things?access_token=TOPSECRET&x=1",
        {"Authorization": "Bearer TOPSECRET", "Content-Type": "application/json"},
        {"data": [1]},
        ("e1",),
    )


class FixedRng:
    """uniform(a, b) -> b: the largest delay full jitter could pick."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_send_returns_status_and_body(platform):
    platform.answer(201, {"ok": True})
    status, body, wait = send(request(platform.url))
    assert status == 201 and body == b'{"ok": true}' and wait is None
    got = platform.received[0]
    assert got.method == "POST" and got.path == "/v1/things"
    assert got.json == {"data": [1]}
    assert got.header("Authorization") == "Bearer TOPSECRET"


def test_http_errors_are_answers_not_exceptions(platform):
    platform.answer(400, {"error": "bad"})
    assert send(request(platform.url)) == (400, b'{"error": "bad"}', None)


def test_retry_on_429_then_success_makes_exactly_two_requests(platform):
    platform.answer(429, {"error": "slow down"}).answer(200, {})
    sleeps: list[float] = []
    outcome, attempts = send_with_retries(
        request(platform.url), classify_status, sleep=sleeps.append, rng=FixedRng()
    )
    assert outcome.kind == "ok" and attempts == 2
    assert len(platform.received) == 2
    assert sleeps == [0.2]


def test_retry_on_5xx_then_success(platform):
    platform.answer(503).answer(502).answer(200)
    outcome, attempts = send_with_retries(request(platform.url), classify_status, sleep=no_sleep)
    assert (outcome.kind, attempts, len(platform.received)) == ("ok", 3, 3)


def test_permanent_error_is_not_retried(platform):
    platform.answer(400, {"error": "invalid"})
    outcome, attempts = send_with_retries(request(platform.url), classify_status, sleep=no_sleep)
    assert outcome.kind == "permanent" and attempts == 1
    assert len(platform.received) == 1


def test_gives_up_after_the_attempts_with_the_last_outcome(platform):
    platform.default = (500, b"{}")
    outcome, attempts = send_with_retries(
        request(platform.url), classify_status, attempts=3, sleep=no_sleep
    )
    assert outcome.kind == "retry" and attempts == 3
    assert len(platform.received) == 3


def test_backoff_is_exponential_capped_full_jitter():
    rng = FixedRng()
    assert [backoff(n, 0.2, 5.0, rng) for n in range(1, 8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]

    class Low:
        def uniform(self, a: float, b: float) -> float:
            return a

    assert backoff(3, 0.2, 5.0, Low()) == 0


def test_network_error_is_a_transport_error_and_retryable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: connection refused
    with pytest.raises(TransportError) as err:
        send(request(f"http://127.0.0.1:{port}"), timeout=2)
    assert "TOPSECRET" not in str(err.value)
    sleeps: list[float] = []
    outcome, attempts = send_with_retries(
        request(f"http://127.0.0.1:{port}"),
        classify_status,
        attempts=2,
        sleep=sleeps.append,
        timeout=2,
    )
    assert outcome.kind == "retry" and attempts == 2 and len(sleeps) == 1
    assert outcome.reason.startswith("transport error")
    assert "TOPSECRET" not in outcome.reason


def test_redirects_are_not_followed(platform):
    platform.answer(302, {})
    status, _, _ = send(request(platform.url))
    assert status == 302 and len(platform.received) == 1
    assert classify_status(302).kind == "permanent"


def test_only_http_urls_are_opened():
    with pytest.raises(ValueError):
        send(HttpRequest("POST", "file:///etc/passwd", {}, None))


def test_request_text_never_shows_credentials():
    req = request("https://graph.example")
    for text in (str(req), repr(req)):
        assert "TOPSECRET" not in text
    assert "access_token=***" in req.safe_url and "x=1" in req.safe_url
    assert req.safe_headers["Authorization"] == "***"


def test_outcome_defaults_to_no_reason_and_not_partial():
    assert Outcome("ok").reason == "" and not Outcome("ok").partial


def test_a_platform_echoing_the_token_does_not_get_it_into_the_outcome(platform):
    platform.answer(400, {"error": {"message": "bad token TOPSECRET"}})
    outcome, _ = send_with_retries(request(platform.url), classify_status, sleep=no_sleep)
    assert outcome.kind == "permanent"
    assert "TOPSECRET" not in outcome.reason and "***" in outcome.reason


# --- The caller's deadline and the platform's Retry-After ---------------------------------------


class Scripted:
    """A transport answering from a list, recording each try's timeout."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.timeouts: list[float] = []

    def __call__(self, request: HttpRequest, timeout: float) -> Any:
        self.timeouts.append(timeout)
        return self.answers.pop(0)


def test_each_try_is_cut_to_the_time_the_caller_has_left():
    transport = Scripted((503, b""), (200, b""))
    left = iter([30.0, 30.0, 3.0, 3.0])
    outcome, attempts = send_with_retries(
        request("https://x"),
        classify_status,
        sleep=no_sleep,
        transport=transport,
        timeout=10,
        budget=lambda: next(left),
    )
    assert outcome.ok and attempts == 2
    assert transport.timeouts == [10, 3.0]


def test_no_try_starts_when_no_time_is_left():
    transport = Scripted()
    outcome, attempts = send_with_retries(
        request("https://x"), classify_status, transport=transport, budget=lambda: 0.0
    )
    assert transport.timeouts == [] and attempts == 0
    assert outcome.kind == "retry" and outcome.out_of_time


def test_a_wait_that_would_outlast_the_deadline_is_not_started():
    sleeps: list[float] = []
    transport = Scripted((500, b""), (200, b""))
    outcome, attempts = send_with_retries(
        request("https://x"),
        classify_status,
        sleep=sleeps.append,
        rng=FixedRng(),  # backoff 0.2 s
        transport=transport,
        budget=lambda: 0.1,
    )
    assert sleeps == [] and attempts == 1
    assert outcome.out_of_time and "HTTP 500" in outcome.reason


def test_retry_after_is_waited_for_when_longer_than_the_backoff():
    sleeps: list[float] = []
    transport = Scripted(Answer(429, b"", retry_after=7.0), Answer(200, b""))
    outcome, attempts = send_with_retries(
        request("https://x"),
        classify_status,
        sleep=sleeps.append,
        rng=FixedRng(),
        transport=transport,
        budget=lambda: 100.0,
    )
    assert outcome.ok and attempts == 2 and sleeps == [7.0]


def test_retry_after_beyond_the_deadline_leaves_the_events_for_a_later_run():
    sleeps: list[float] = []
    transport = Scripted(Answer(429, b"", retry_after=30.0))
    outcome, attempts = send_with_retries(
        request("https://x"),
        classify_status,
        sleep=sleeps.append,
        transport=transport,
        budget=lambda: 20.0,
    )
    assert sleeps == [] and attempts == 1 and outcome.out_of_time


def test_retry_after_is_capped_without_a_deadline():
    sleeps: list[float] = []
    transport = Scripted(Answer(503, b"", retry_after=86400.0), Answer(200, b""))
    outcome, _ = send_with_retries(
        request("https://x"), classify_status, sleep=sleeps.append, transport=transport
    )
    assert outcome.ok and sleeps == [MAX_RETRY_AFTER]


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after("120") == 120.0
    assert retry_after(date, now=now.timestamp) == 90.0
    assert retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now.timestamp) == 0
    for garbage in (None, "", "soon", "-5", "1.5e9"):
        assert retry_after(garbage) is None


@pytest.fixture
def asks_to_wait() -> Iterator[str]:
    """A platform answering 429 with ``Retry-After: 3``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(429)
            self.send_header("Retry-After", "3")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_send_reads_the_platforms_retry_after(asks_to_wait):
    assert send(request(asks_to_wait)) == Answer(429, b"", 3.0)
