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
    after_response._started = None


def environment(mode: str, hold_back: bool = True):
    """A fake Lambda, app.py's init in it (the extension registers), then the runtime's loop."""
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


def test_the_extension_registers_for_invoke_only_during_init(stage):
    fake, _, _ = environment("after-response")
    try:
        assert fake.registrations == [{"name": "rebound-after-response", "events": ["INVOKE"]}]
        assert len(fake.extensions) == 1
    finally:
        fake.close()


def test_the_302_reaches_the_caller_while_put_records_is_still_held_back(stage):
    fake, _, kinesis = environment("after-response")
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


# The killed extension thread ends on the exception that stands for the kill.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_process_killed_after_the_response_loses_the_one_click_it_held_and_no_other(stage):
    """Kill in the window: the environment dies once the caller has the 302, before the
    extension's flush puts it (the held write never completes). Counted over N invocations."""
    n, killed = 6, {2, 4}
    clicks = []
    for i in range(n):
        fake, _, kinesis = environment("after-response", hold_back=False)
        gate = threading.Event()
        real = kinesis.real

        class Dies:
            def __init__(self, gate: threading.Event):
                self.gate = gate

            def put_records(self, **kw):
                self.gate.wait(5)  # the caller has its response first; then the process dies
                raise SystemExit("killed")  # the thread ends; nothing was put

        if i in killed:
            kinesis.real = Dies(gate)
        try:
            clicks.append(visit(fake))
            if i in killed:
                after_response.HELD.discard()  # whatever the dead process still held
                gate.set()
            else:
                fake.shutdown()
        finally:
            fake.close()
        kinesis.real = real
    on_stream = [
        e["click"]["click_id"] for e in stream_records(client("kinesis"), stage.clicks_stream)
    ]
    missing = [c for c in clicks if c not in on_stream]
    # One click lost a kill (the one its invocation answered), none of the invocations before.
    assert missing == [clicks[i] for i in sorted(killed)]
    assert len(on_stream) == len(set(on_stream)) == n - len(killed)


def _at(log: list[tuple[str, str]], cid: str) -> int:
    return next(
        i for i, (w, d) in enumerate(log) if w.startswith("PutRecord") and cid in d.split(",")
    )
