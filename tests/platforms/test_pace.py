"""An account's rate limit within a container: a token bucket (and a connection cap), taken by
``http.send`` around each try; a wait longer than the try's time is not started."""

from __future__ import annotations

import threading

import pytest

from chalicelib.platforms import http
from chalicelib.platforms.pace import Pace, pace_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_a_full_bucket_lets_a_burst_through_then_spaces_the_rest():
    clock = Clock()
    pace = Pace(5, 1.0, clock=clock, sleep=clock.sleep)  # ActiveCampaign: 5 requests a second
    for _ in range(7):
        with pace.slot(timeout=10):
            pass
    assert clock.slept == [0.2, 0.2]  # the 6th and 7th wait for a token each


def test_kits_limit_spaces_requests_half_a_second_apart_once_the_burst_is_spent():
    clock = Clock()
    pace = Pace(120, 60.0, clock=clock, sleep=clock.sleep)
    for _ in range(121):
        with pace.slot(timeout=10):
            pass
    assert clock.slept == [0.5]


def test_a_wait_longer_than_the_time_left_is_not_started_and_gives_its_token_back():
    clock = Clock()
    pace = Pace(1, 60.0, clock=clock, sleep=clock.sleep)
    with pace.slot(timeout=1):
        pass
    with pytest.raises(TimeoutError, match="rate limit"), pace.slot(timeout=1):
        pass
    assert clock.slept == []
    clock.now += 60
    with pace.slot(timeout=1):  # the refused try took nothing
        pass


def test_a_connection_cap_holds_the_next_request_until_one_is_free():
    pace = Pace(1000, 1.0, connections=1)
    held = pace.slot(timeout=5)
    held.__enter__()
    with pytest.raises(TimeoutError, match="connection limit"), pace.slot(timeout=0.05):
        pass
    held.__exit__(None, None, None)
    with pace.slot(timeout=0.05):  # released when the first one left
        pass


def test_one_pace_per_tool_and_account_in_a_process():
    a = pace_for("kit", "acct-1", 120, 60)
    assert pace_for("kit", "acct-1", 120, 60) is a
    assert pace_for("kit", "acct-2", 120, 60) is not a


def test_send_takes_the_requests_slot_around_the_try(platform):
    taken = threading.Event()

    class Spy(Pace):
        def slot(self, timeout):
            taken.set()
            return super().slot(timeout)

    request = http.HttpRequest("POST", platform.url, {}, {}, ("e",), pace=Spy(10, 1.0))
    assert http.send(request).status == 200
    assert taken.is_set()


def test_a_try_that_finds_no_slot_is_a_retryable_transport_error(platform):
    clock = Clock()
    pace = Pace(1, 60.0, clock=clock, sleep=clock.sleep)
    request = http.HttpRequest("POST", platform.url, {}, {}, ("e",), pace=pace)
    http.send(request)
    with pytest.raises(http.TransportError, match="rate limit"):
        http.send(request, timeout=1)
    assert len(platform.received) == 1
