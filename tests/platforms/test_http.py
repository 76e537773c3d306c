from __future__ import annotations

import socket

import pytest

from chalicelib.platforms import adapter
from chalicelib.platforms.http import (
    HttpRequest,
    Outcome,
    TransportError,
    backoff,
    send,
    send_with_retries,
)

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
    status, body = send(request(platform.url))
    assert status == 201 and body == b'{"ok": true}'
    got = platform.received[0]
    assert got.method == "POST" and got.path == "/v1/things"
    assert got.json == {"data": [1]}
    assert got.header("Authorization") == "Bearer TOPSECRET"


def test_http_errors_are_answers_not_exceptions(platform):
    platform.answer(400, {"error": "bad"})
    assert send(request(platform.url)) == (400, b'{"error": "bad"}')


def test_retry_on_429_then_success_makes_exactly_two_requests(platform):
    platform.answer(429, {"error": "slow down"}).answer(200, {})
    sleeps: list[float] = []
    outcome, attempts = send_with_retries(
        request(platform.url), adapter.classify_status, sleep=sleeps.append, rng=FixedRng()
    )
    assert outcome.kind == "ok" and attempts == 2
    assert len(platform.received) == 2
    assert sleeps == [0.2]


def test_retry_on_5xx_then_success(platform):
    platform.answer(503).answer(502).answer(200)
    outcome, attempts = send_with_retries(
        request(platform.url), adapter.classify_status, sleep=no_sleep
    )
    assert (outcome.kind, attempts, len(platform.received)) == ("ok", 3, 3)


def test_permanent_error_is_not_retried(platform):
    platform.answer(400, {"error": "invalid"})
    outcome, attempts = send_with_retries(
        request(platform.url), adapter.classify_status, sleep=no_sleep
    )
    assert outcome.kind == "permanent" and attempts == 1
    assert len(platform.received) == 1


def test_gives_up_after_the_attempts_with_the_last_outcome(platform):
    platform.default = (500, b"{}")
    outcome, attempts = send_with_retries(
        request(platform.url), adapter.classify_status, attempts=3, sleep=no_sleep
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
        adapter.classify_status,
        attempts=2,
        sleep=sleeps.append,
        timeout=2,
    )
    assert outcome.kind == "retry" and attempts == 2 and len(sleeps) == 1
    assert outcome.reason.startswith("transport error")
    assert "TOPSECRET" not in outcome.reason


def test_redirects_are_not_followed(platform):
    platform.answer(302, {})
    status, _ = send(request(platform.url))
    assert status == 302 and len(platform.received) == 1
    assert adapter.classify_status(302).kind == "permanent"


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
    outcome, _ = send_with_retries(request(platform.url), adapter.classify_status, sleep=no_sleep)
    assert outcome.kind == "permanent"
    assert "TOPSECRET" not in outcome.reason and "***" in outcome.reason
