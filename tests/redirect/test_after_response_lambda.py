"""The redirect in `after-response` mode inside a fake Lambda (bench/fake_lambda.py: the Runtime
and Extensions APIs on 127.0.0.1): the visitor's 302 does not wait for Kinesis, and every click is
on the stream before the next invocation starts or the environment shuts down."""

from __future__ import annotations

import json
import threading

import pytest

from bench.apigw import rest_event
from bench.fake_lambda import FakeLambda, Runtime, fresh_app
from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks import after_response
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from tests.clicks.test_stream import stream_records

HOST = "go.localhost"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)


class HeldBackKinesis:
    """Kinesis that answers a write only once the caller has its response (or a bound passed):
    a redirect whose 302 waited for the write would never get it in time."""

    def __init__(self, real, fake: FakeLambda, hold_back: bool = True):
        self.real, self.fake, self.hold_back = real, fake, hold_back
        self.waited_out = 0

    def _after_the_response(self, request_id: str) -> None:
        if not self.hold_back:
            return
        with self.fake.cond:
            got = self.fake.cond.wait_for(lambda: request_id in self.fake.responses, 1.0)
        self.waited_out += 0 if got else 1

    def put_records(self, **kw):
        rid = self.fake.invocations[-1]["id"]
        ids = [json.loads(r["Data"])["click"]["click_id"] for r in kw["Records"]]
        self._after_the_response(rid)
        self.fake.note("PutRecords", ",".join(ids))
        return self.real.put_records(**kw)

    def put_record(self, **kw):
        rid = self.fake.invocations[-1]["id"]
        self._after_the_response(rid)
        self.fake.note("PutRecord", json.loads(kw["Data"])["click"]["click_id"])
        return self.real.put_record(**kw)


@pytest.fixture
def stage(aws):
    names = Names.from_env()
    store = ConfigStore(client("dynamodb"), names.links_table)
    specs = Specs(
        domains=[
            {
                "name": HOST,
                "root_url": "https://shop.example/",
                "not_found_url": "https://shop.example/missing",
                "consent": {"honor_gpc": True, "honor_dnt": True, "require_in": []},
            }
        ],
        platforms={},
        audiences=[],
        links=[
            {
                "domain": HOST,
                "slug": "sale",
                "url": "https://shop.example/sale",
                "redirect": 302,
                "mode": "redirect",
                "tags": [],
                "utm": {},
                "forward_query": True,
                "track_conversions": True,
                "rules": [],
            }
        ],
    )
    store.write(make_plan(specs, store.read_all()).writes())
    yield names
    after_response.HELD.discard()
    after_response.stop()


def environment(mode: str, hold_back: bool = True):
    """A fake Lambda, app.py's init in it (after-response hooks the runtime client), then the
    runtime's loop."""
    fake = FakeLambda().start()
    module = fresh_app(
        {
            "REBOUND_PUBLISH_MODE": mode,
            "AWS_LAMBDA_RUNTIME_API": fake.address,
            "AWS_LAMBDA_FUNCTION_NAME": "rebound-local",
        }
    )
    handler = module.redirect_handler()
    kinesis = HeldBackKinesis(handler.publisher.kinesis, fake, hold_back)
    handler.publisher.kinesis = kinesis
    Runtime(fake.address, module.app, "rebound-local").start()
    assert fake.wait_ready(10), fake.state()
    return fake, module, kinesis


def visit(fake: FakeLambda, path: str = "/sale") -> str:
    response = fake.invoke(rest_event(path, host=HOST, user_agent=CHROME))
    assert response["statusCode"] == 302, response
    location = response["headers"]["Location"]
    return location.split("rb_cid=")[1].split("&")[0]


def test_with_the_runtime_client_known_no_extension_registers_and_its_posts_are_hooked(stage):
    from bench.fake_lambda import RuntimeClient

    fake, _, _ = environment("after-response")
    try:
        assert isinstance(after_response._started, after_response.RuntimeHook)
        assert fake.registrations == [] and fake.extensions == {}
        assert RuntimeClient.post_invocation_result.signals is after_response.HELD
    finally:
        fake.close()


def test_with_no_runtime_client_known_the_extension_registers_for_invoke_only_during_init(
    stage, monkeypatch
):
    monkeypatch.setattr(after_response, "RUNTIME_CLIENTS", [])
    fake, _, _ = environment("after-response")
    try:
        assert isinstance(after_response._started, after_response.LambdaExtension)
        assert fake.registrations == [{"name": "rebound-after-response", "events": ["INVOKE"]}]
        assert len(fake.extensions) == 1
    finally:
        fake.close()


@pytest.mark.parametrize("hooked", [True, False], ids=["posts-hooked", "extension"])
def test_the_302_reaches_the_caller_while_put_records_is_still_held_back(
    stage, monkeypatch, hooked
):
    """Whether the runtime's thread flushes after its hooked post or, with no client known,
    the internal extension does once the runtime waits for its next invocation."""
    if not hooked:
        monkeypatch.setattr(after_response, "RUNTIME_CLIENTS", [])
    fake, _, kinesis = environment("after-response")
    kind = after_response.RuntimeHook if hooked else after_response.LambdaExtension
    assert isinstance(after_response._started, kind)
    try:
        clicks = [visit(fake) for _ in range(3)]
        fake.shutdown()
        log = fake.log
    finally:
        fake.close()
    assert kinesis.waited_out == 0  # no write had to give up waiting: the 302 never needed one
    for invocation, cid in zip(fake.invocations, clicks, strict=True):
        # the caller had the 302 while the put of its click was still held back
        assert log.index(("response", invocation["id"])) < _at(log, cid), log
    # ... and each click was put before the next invocation started, or the shutdown.
    starts = [i for i, (w, _) in enumerate(log) if w in ("invoke", "shutdown")]
    for n, cid in enumerate(clicks):
        assert starts[n] < _at(log, cid) < starts[n + 1], log
    on_stream = [
        e["click"]["click_id"] for e in stream_records(client("kinesis"), stage.clicks_stream)
    ]
    assert on_stream == clicks


def test_in_sync_mode_the_302_waits_for_put_record(stage):
    fake, _, kinesis = environment("sync")
    try:
        cid = visit(fake)
        log = fake.log
    finally:
        fake.close()
    assert fake.extensions == {}  # sync registers nothing
    assert kinesis.waited_out == 1  # the write could not wait for the response: it came after
    assert _at(log, cid) < next(i for i, (w, _) in enumerate(log) if w == "response")


def test_kinesis_down_after_the_response_puts_the_click_in_the_fallback_queue(stage):
    from tests.clicks.test_after_response import refused

    fake, _, kinesis = environment("after-response", hold_back=False)

    def down(**kw):
        raise refused("PutRecords")

    kinesis.real = type("Down", (), {"put_records": staticmethod(down)})()
    try:
        cid = visit(fake)
        fake.shutdown()
    finally:
        fake.close()
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=stage.clicks_fallback_queue)["QueueUrl"]
    bodies = [
        m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert [json.loads(b)["click"]["click_id"] for b in bodies] == [cid]


def _at(log: list[tuple[str, str]], cid: str) -> int:
    return next(
        i for i, (w, d) in enumerate(log) if w.startswith("PutRecord") and cid in d.split(",")
    )


class Gate:
    """Kinesis whose writes wait (bounded) until the test opens the gate, which it does only once
    the caller has the 302 in hand. Records, per call, whether the runtime had already posted
    the response when the write was called, and whether the gate (not the bound) let it go."""

    def __init__(self, real, fake: FakeLambda):
        self.real, self.fake = real, fake
        self.open = threading.Event()
        self.entered = threading.Event()
        self.calls: list[dict] = []

    def _wait(self, kind: str, ids: list[str]) -> None:
        rid = self.fake.invocations[-1]["id"]
        call = {"kind": kind, "ids": ids, "posted_first": rid in self.fake.responses}
        self.calls.append(call)
        self.entered.set()
        call["opened_by_the_caller"] = self.open.wait(10)

    def put_records(self, **kw):
        self._wait(
            "PutRecords", [json.loads(r["Data"])["click"]["click_id"] for r in kw["Records"]]
        )
        return self.real.put_records(**kw)

    def put_record(self, **kw):
        self._wait("PutRecord", [json.loads(kw["Data"])["click"]["click_id"]])
        return self.real.put_record(**kw)


def test_the_caller_has_the_302_in_hand_before_put_records_is_called_and_it_is_put_after(stage):
    """The write waits on a gate the caller opens only once it has the 302: a 302 that waited
    for the write would never come (the bounded invoke would fail). When the caller has it, the
    stream holds nothing of this click; once the gate opens, the click is on the stream before
    the environment takes the next invocation."""
    fake, _, kinesis = environment("after-response", hold_back=False)
    gate = Gate(kinesis.real, fake)
    kinesis.real = gate
    try:
        response = fake.invoke(rest_event("/sale", host=HOST, user_agent=CHROME), timeout=5)
        assert response["statusCode"] == 302
        cid = response["headers"]["Location"].split("rb_cid=")[1].split("&")[0]
        assert stream_records(client("kinesis"), stage.clicks_stream) == []  # not put yet
        assert not fake.wait_ready(0)  # the environment is still flushing: no next invocation
        gate.open.set()
        assert fake.wait_ready(10), fake.state()  # the flush ended: the next may start
        on_stream = [
            e["click"]["click_id"] for e in stream_records(client("kinesis"), stage.clicks_stream)
        ]
        assert gate.entered.is_set()
        fake.shutdown()
    finally:
        gate.open.set()
        fake.close()
    assert on_stream == [cid]
    assert gate.calls == [
        {"kind": "PutRecords", "ids": [cid], "posted_first": True, "opened_by_the_caller": True}
    ]


def test_the_gate_would_catch_a_302_that_waits_for_the_write(stage):
    """The same gate in sync mode: the 302 waits for PutRecord, so a caller that opens the gate
    only once it has the 302 never gets it in time (the check above can fail)."""
    fake, _, kinesis = environment("sync", hold_back=False)
    gate = Gate(kinesis.real, fake)
    kinesis.real = gate
    try:
        with pytest.raises(TimeoutError):
            fake.invoke(rest_event("/sale", host=HOST, user_agent=CHROME), timeout=1)
        assert gate.entered.is_set() and gate.calls[0]["posted_first"] is False
    finally:
        gate.open.set()
        # The runtime's thread finishes its PutRecord while moto is still there (it would
        # otherwise call out to AWS's real endpoint once the fixture is gone) and posts.
        with fake.cond:
            assert fake.cond.wait_for(lambda: len(fake.responses) == 1, 10), fake.state()
        fake.close()


def test_a_process_sigkilled_in_the_window_loses_the_one_click_it_held():
    """A real kill: an environment in a process of its own answers five redirects (each
    flushed before the next), then is SIGKILLed while its runtime thread's flush of the fifth is
    in PutRecords. The stream (a file outside the process) has the first four; the fifth,
    answered, is lost: one click a kill (docs/operations.md)."""
    from bench.after_response import kills_in_the_window

    lost, answered, killed = kills_in_the_window(1, invocations=5)
    assert (lost, answered, killed) == (1, 5, 1)


def test_the_redirects_metric_line_is_printed_by_the_flush_after_the_answer(
    stage, capsys, monkeypatch
):
    """The EMF line of a redirect waits for the flush too: none while the caller holds the 302
    and the flush is held back at the gate, one (its outcome) once the flush is done."""
    monkeypatch.setenv("REBOUND_METRICS", "stdout")
    fake, _, kinesis = environment("after-response", hold_back=False)
    gate = Gate(kinesis.real, fake)
    kinesis.real = gate
    try:
        capsys.readouterr()
        response = fake.invoke(rest_event("/sale", host=HOST, user_agent=CHROME), timeout=5)
        assert response["statusCode"] == 302
        assert gate.entered.wait(5), fake.state()
        before = capsys.readouterr().out
        gate.open.set()
        assert fake.wait_ready(10), fake.state()
        after = capsys.readouterr().out
        fake.shutdown()
    finally:
        gate.open.set()
        fake.close()
    assert '"Redirects"' not in before
    (line,) = [json.loads(x) for x in after.splitlines() if '"Redirects"' in x]
    assert (line["Outcome"], line["Redirects"]) == ("default", 1)


def test_a_runtime_whose_hooked_posts_never_run_publishes_before_the_answer_from_then_on(
    stage, monkeypatch, caplog
):
    """The hook in place but the runtime posting some other way (its methods unwrapped after
    init): the second answer finds the first never posted, publishes both clicks before it is
    posted, warns once, and the redirect publishes before its answer from then on. No click
    is lost; only the first waited past its invocation."""
    from bench.fake_lambda import RuntimeClient

    fake, _, _ = environment("after-response", hold_back=False)
    assert isinstance(after_response._started, after_response.RuntimeHook)
    for name in after_response.RUNTIME_POSTS:
        monkeypatch.setattr(RuntimeClient, name, getattr(RuntimeClient, name).__wrapped__)
    try:
        with caplog.at_level("WARNING"):
            clicks = [visit(fake) for _ in range(3)]
            fake.shutdown()
        log = fake.log
    finally:
        fake.close()
    assert caplog.text.count("the runtime's posts do not flush") == 1
    assert after_response.HELD.open is False
    responses = [i for i, (w, _) in enumerate(log) if w == "response"]
    assert _at(log, clicks[0]) < responses[1]  # in the second invocation, before its 302
    assert _at(log, clicks[1]) < responses[1]
    assert _at(log, clicks[2]) < responses[2]  # sync from then on
    on_stream = [
        e["click"]["click_id"] for e in stream_records(client("kinesis"), stage.clicks_stream)
    ]
    assert on_stream == clicks
