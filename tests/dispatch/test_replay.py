"""Partial failures and Lambda's replay: whatever fails mid-batch (the ledger, the config table,
the DLQ, an adapter, the clock), the replay sends every event once or dead-letters it, never
drops it as a "duplicate" of a claim nobody settled."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.dispatch import dispatcher as dispatcher_module
from chalicelib.dispatch.ledger import DEAD, SENT
from chalicelib.platforms.meta import PLATFORM as meta_platform
from tests.dispatch.scenario import (
    IP,
    NOW,
    UA,
    batch,
    click,
    configure,
    conversion,
    dispatcher,
    dlq_messages,
    key_of,
    ledger,
    sent_event_ids,
    status,
)


def throttled(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation
    )


@contextmanager
def fault(service: str, operation: str, fail: Callable[[dict], bool]) -> Iterator[list[int]]:
    """``operation`` raises its error whenever ``fail(params)`` says so (after botocore's own
    retries, as far as the caller can tell). Yields the list of calls that failed."""
    failed: list[int] = []
    error = (
        EndpointConnectionError(endpoint_url=f"https://{service}.invalid")
        if service == "sqs"
        else throttled(operation)
    )

    def inject(params: dict, **_: Any) -> None:
        if fail(params):
            failed.append(1)
            raise error

    events = client(service).meta.events
    name = f"before-parameter-build.{service}.{operation}"
    events.register(name, inject)
    try:
        yield failed
    finally:
        events.unregister(name, inject)


def failures(result: dict) -> list[str]:
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


# --- A claim nobody settled ------------------------------------------------------------------------


def test_an_unsettled_claim_is_retried_later_not_dropped_as_a_duplicate(aws, fakes):
    configure(fakes)
    meta, tiktok = fakes
    env = click()
    # A run that claimed the event and died before sending it; its claim has a minute to run.
    ledger().claim(key_of("meta", env), NOW, until=NOW + timedelta(minutes=1))

    report = dispatcher(now=lambda: NOW).dispatch(batch(env, first_seq=5))
    assert failures(report.response()) == ["5"]
    assert sent_event_ids(meta) == [] and len(sent_event_ids(tiktok)) == 1
    assert dict(report.duplicates) == {}

    later = dispatcher(now=lambda: NOW + timedelta(minutes=2))  # the dead run's claim is over
    report = later.dispatch(batch(env, first_seq=5))
    assert failures(report.response()) == []
    assert sent_event_ids(meta) == [env["click"]["click_id"]]
    assert len(sent_event_ids(tiktok)) == 1  # tiktok's settled claim is a duplicate
    assert dict(report.duplicates) == {"tiktok": 1}
    assert status("meta", env) == SENT


class FakeTime:
    """The dispatcher's clock and sleep: sleeping moves the clock, and may run ``on_sleep``."""

    def __init__(self, on_sleep: Callable[[], None] | None = None):
        self.at = NOW
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def now(self):
        return self.at

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.at += timedelta(seconds=seconds)
        if self.on_sleep:
            self.on_sleep()

    def context(self, seconds: float) -> Any:
        """A Lambda context with ``seconds`` left now, running on this clock."""
        return SimpleNamespace(
            get_remaining_time_in_millis=lambda: int(
                (seconds - (self.at - NOW).total_seconds()) * 1000
            )
        )


def test_a_claim_that_runs_out_before_the_deadline_is_waited_for_and_sent(aws, fakes):
    configure(fakes)
    env = click()
    # A run that died mid-send 20 s ago: its claim ends with its invocation, in 40 s.
    ledger().claim(key_of("meta", env), NOW, until=NOW + timedelta(seconds=40))
    clock = FakeTime()
    d = dispatcher(now=clock.now, sleep=clock.sleep)

    result = d.handle(batch(env), context=clock.context(240))

    assert failures(result) == []
    assert sent_event_ids(fakes[0]) == [env["click"]["click_id"]]
    assert status("meta", env) == SENT
    assert 40 < sum(clock.sleeps) <= 45 and len(clock.sleeps) <= 8  # a few looks, not a spin


def test_a_claim_settled_by_a_concurrent_run_while_waiting_is_a_duplicate(aws, fakes):
    configure(fakes)
    env = click()
    key = key_of("meta", env)
    ledger().claim(key, NOW, until=NOW + timedelta(seconds=200))
    clock = FakeTime(on_sleep=lambda: ledger().settle_many([key], SENT, "HTTP 200", NOW))
    d = dispatcher(now=clock.now, sleep=clock.sleep)

    report = d.dispatch(batch(env), context=clock.context(240))

    assert failures(report.response()) == [] and sent_event_ids(fakes[0]) == []
    assert dict(report.duplicates) == {"meta": 1}
    assert len(clock.sleeps) == 1


def test_a_claim_outlasting_the_deadline_goes_back_for_the_retry(aws, fakes):
    configure(fakes)
    env = click()
    ledger().claim(key_of("meta", env), NOW, until=NOW + timedelta(minutes=10))
    clock = FakeTime()
    d = dispatcher(now=clock.now, sleep=clock.sleep)

    report = d.dispatch(batch(env, first_seq=4), context=clock.context(100))

    assert failures(report.response()) == ["4"] and sent_event_ids(fakes[0]) == []
    assert sum(clock.sleeps) < 100 - dispatcher_module.SAFETY_SECONDS
    assert dict(report.in_flight) == {"meta": 1}


def test_the_same_event_twice_in_one_batch_is_sent_once(aws, fakes):
    configure(fakes)
    env = click()
    assert failures(dispatcher().handle(batch(env, env))) == []
    assert sent_event_ids(fakes[0]) == [env["click"]["click_id"]]
    assert sent_event_ids(fakes[1]) == [env["click"]["click_id"]]


def test_a_ledger_throttle_mid_batch_then_the_replay_sends_every_event_exactly_once(aws, fakes):
    configure(fakes)
    envs = [click() for _ in range(4)]
    calls = []

    def third_claim(params: dict) -> bool:
        calls.append(1)
        return len(calls) == 3

    with fault("dynamodb", "PutItem", third_claim) as failed:
        first = dispatcher().handle(batch(*envs))
    assert failed and failures(first)  # the throttled claim's record comes back

    assert failures(dispatcher().handle(batch(*envs))) == []
    want = Counter(e["click"]["click_id"] for e in envs)
    assert Counter(sent_event_ids(fakes[0])) == want
    assert Counter(sent_event_ids(fakes[1])) == want


def test_an_unreachable_dlq_fails_the_record_and_the_replay_dead_letters_it(aws, fakes):
    configure(fakes)
    fakes[0].default = (400, b'{"error": {"message": "Invalid parameter", "code": 100}}')
    env = click()

    with fault("sqs", "SendMessageBatch", lambda params: True) as failed:
        assert failures(dispatcher().handle(batch(env, first_seq=9))) == ["9"]
    assert failed and dlq_messages() == []
    assert status("meta", env) is None  # released, not stranded

    assert failures(dispatcher().handle(batch(env, first_seq=9))) == []
    (dead,) = dlq_messages()
    assert dead["platform"] == "meta" and dead["event"]["event_id"] == env["click"]["click_id"]
    assert status("meta", env) == DEAD
    assert len(sent_event_ids(fakes[1])) == 1  # tiktok: sent once, a duplicate on the replay


def test_an_adapter_exception_dead_letters_its_events_and_logs_no_user_data(
    aws, fakes, monkeypatch, caplog
):
    configure(fakes)

    def broken(events, *args, **kwargs):
        raise ValueError(f"cannot shape {events[0].ip} {events[0].user_agent}")

    monkeypatch.setattr(meta_platform, "build_requests", broken)
    env = click()
    with caplog.at_level(logging.DEBUG, logger="chalicelib.dispatch"):
        assert failures(dispatcher().handle(batch(env))) == []
    (dead,) = dlq_messages()
    assert dead["platform"] == "meta" and "ValueError" in dead["reason"]
    assert dead["reason"] == "adapter error: ValueError"  # the type, not the message
    assert dead["event"]["ip"] is None
    assert status("meta", env) == DEAD
    assert len(sent_event_ids(fakes[1])) == 1  # tiktok is not held back
    assert IP not in caplog.text and UA not in caplog.text
    assert "ValueError" in caplog.text

    dispatcher().handle(batch(env))  # the replay: settled, nothing new
    assert dlq_messages() == [] and len(sent_event_ids(fakes[1])) == 1


def test_a_throttled_config_read_fails_the_record_instead_of_skipping_it(aws, fakes):
    configure(fakes)
    links = Names.from_env().links_table
    env = click()

    with fault("dynamodb", "GetItem", lambda params: params["TableName"] == links) as failed:
        assert failures(dispatcher().handle(batch(env, first_seq=3))) == ["3"]
    assert failed and sent_event_ids(fakes[0]) == []

    assert failures(dispatcher().handle(batch(env, first_seq=3))) == []
    assert sent_event_ids(fakes[0]) == [env["click"]["click_id"]]


def test_platform_answers_echoing_user_data_stay_out_of_the_logs(aws, fakes, caplog):
    configure(fakes)
    fakes[0].default = (400, json.dumps({"error": {"message": f"bad ip {IP} ua {UA}"}}).encode())
    with caplog.at_level(logging.DEBUG, logger="chalicelib.dispatch"):
        dispatcher().handle(batch(click()))
    assert "meta" in caplog.text
    assert IP not in caplog.text and UA not in caplog.text


# --- Scoped keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("together", [True, False], ids=["same-batch", "later-batch"])
def test_a_lead_whose_event_id_is_its_click_id_is_sent_as_well_as_the_click(aws, fakes, together):
    configure(fakes)
    c = click()
    lead = conversion(c, event="lead", event_id=c["click"]["click_id"])
    if together:
        dispatcher().handle(batch(c, lead))
    else:
        dispatcher().handle(batch(c))
        dispatcher().handle(batch(lead, first_seq=2000))
    names = [e["event_name"] for r in fakes[0].received for e in r.json["data"]]
    assert sorted(names) == ["Lead", "PageView"]
    assert sent_event_ids(fakes[0]) == [c["click"]["click_id"]] * 2


def test_the_same_order_id_on_two_domains_is_sent_for_each(aws, fakes):
    configure(fakes, domains=("go.localhost", "shop.localhost"))
    a, b = click(), click(domain="shop.localhost")
    orders = [conversion(a, event_id="order-7"), conversion(b, event_id="order-7")]
    orders[1]["conversion"]["domain"] = "shop.localhost"
    dispatcher().handle(batch(*orders))
    sources = sorted(e["event_source_url"] for r in fakes[0].received for e in r.json["data"])
    assert sources == ["https://go.localhost/spring-sale", "https://shop.localhost/spring-sale"]
    assert sent_event_ids(fakes[0]) == ["order-7", "order-7"]
    assert {status("meta", o) for o in orders} == {SENT}


# --- The deadline and the concurrency bound ----------------------------------------------------


class FakeGA4:
    """GA4 on 127.0.0.1: counts requests in flight; holds each until ``gate`` are in flight (or
    every expected request came, or a bounded wait ran out); ``on_receive`` runs first."""

    def __init__(
        self, gate: int = 1, expected: int = 0, on_receive: Callable[[], None] | None = None
    ):
        self.client_ids: list[str] = []
        self.in_flight = self.max_in_flight = 0
        self.cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.cond:
                    if on_receive:
                        on_receive()
                    fake.client_ids.append(body["client_id"])
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    fake.cond.notify_all()
                    fake.cond.wait_for(
                        lambda: fake.in_flight >= gate or len(fake.client_ids) >= expected,
                        timeout=3,
                    )
                    fake.in_flight -= 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class FakeContext:
    """A Lambda context whose remaining time runs on a clock the test moves."""

    def __init__(self, seconds: float, clock: list[float]):
        self.seconds = seconds
        self.clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return int((self.seconds - self.clock[0]) * 1000)


def ga4_clicks(n: int) -> list[dict]:
    return [click(platforms=["google"], visitor_id=f"visitor-{i:02d}") for i in range(n)]


def test_events_not_sent_before_the_deadline_are_released_and_reported(aws, fakes):
    clock = [0.0]

    def slow() -> None:  # every request takes a minute of the Lambda's time
        clock[0] += 60

    ga4 = FakeGA4(on_receive=slow)
    try:
        configure(fakes, google_url=ga4.url)
        envs = ga4_clicks(12)  # one GA4 request per visitor
        events = batch(*envs)
        margin = dispatcher_module.SAFETY_SECONDS
        first = dispatcher().handle(events, context=FakeContext(margin + 30, clock))

        sent = set(ga4.client_ids)
        unsent = [e for e in envs if e["click"]["visitor_id"] not in sent]
        assert unsent  # the bound keeps requests waiting; the clock ran out before they started
        assert {status("google", e) for e in unsent} == {None}  # released, not stranded
        assert set(failures(first)) >= {
            str(1000 + envs.index(e)) for e in unsent
        }  # reported for the retry

        replay = dispatcher().handle(events, context=FakeContext(900, [0.0]))
        assert failures(replay) == []
        assert Counter(ga4.client_ids) == Counter(e["click"]["visitor_id"] for e in envs)
        assert {status("google", e) for e in envs} == {SENT}
    finally:
        ga4.stop()


def test_a_platforms_requests_go_out_concurrently_up_to_the_bound(aws, fakes):
    bound = dispatcher_module.SEND_CONCURRENCY
    envs = ga4_clicks(2 * bound + 3)
    ga4 = FakeGA4(gate=bound, expected=len(envs))
    try:
        configure(fakes, google_url=ga4.url)
        assert failures(dispatcher().handle(batch(*envs))) == []
        assert ga4.max_in_flight == bound
        assert sorted(ga4.client_ids) == sorted(e["click"]["visitor_id"] for e in envs)
    finally:
        ga4.stop()
