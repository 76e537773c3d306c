"""Publishing after the response: held envelopes are put in batched PutRecords calls, SQS takes
what Kinesis refuses, nothing raises, and a process killed in the window loses what it held."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks import after_response
from chalicelib.clicks.after_response import BackgroundFlusher, Held
from chalicelib.clicks.envelope import encode
from chalicelib.clicks.stream import MAX_RECORDS, StreamPublisher
from tests.clicks.test_stream import event, stream_records


def refused(op: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, op
    )


class RecordingKinesis:
    """Passes PutRecords on to moto; records each call's size; can refuse some records."""

    def __init__(self, real, refuse: set[str] = frozenset(), down: bool = False):
        self.real, self.refuse, self.down = real, set(refuse), down
        self.calls: list[int] = []

    def put_records(self, StreamName, Records):
        self.calls.append(len(Records))
        if self.down:
            raise refused("PutRecords")
        keep = [r for r in Records if r["PartitionKey"] not in self.refuse]
        if keep:
            self.real.put_records(StreamName=StreamName, Records=keep)
        return {
            "FailedRecordCount": len(Records) - len(keep),
            "Records": [
                {"ErrorCode": "ProvisionedThroughputExceededException"}
                if r["PartitionKey"] in self.refuse
                else {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}
                for r in Records
            ],
        }


class DownSQS:
    def get_queue_url(self, **kw):
        raise refused("GetQueueUrl")

    def send_message(self, **kw):
        raise refused("SendMessage")


@pytest.fixture
def names(aws) -> Names:
    return Names.from_env()


def queued(names: Names) -> list[dict]:
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=names.clicks_fallback_queue)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def hold(held: Held, publisher: StreamPublisher, *ids: str) -> None:
    for cid in ids:
        held.hold(publisher, encode(event(cid)), cid)


def test_held_clicks_reach_the_stream_in_one_put_records_call_only_when_flushed(names):
    kinesis = RecordingKinesis(client("kinesis"))
    pub = StreamPublisher(kinesis, client("sqs"), names.clicks_stream, names.clicks_fallback_queue)
    held = Held()
    hold(held, pub, "01A", "01B", "01C")
    assert kinesis.calls == [] and len(held) == 3
    assert held.flush() == Counter(stream=3)
    assert kinesis.calls == [3]
    assert [
        e["click"]["click_id"] for e in stream_records(client("kinesis"), names.clicks_stream)
    ] == [
        "01A",
        "01B",
        "01C",
    ]
    assert len(held) == 0 and held.flush() == Counter()


def test_records_kinesis_refuses_go_to_the_fallback_queue_and_the_rest_to_the_stream(names):
    kinesis = RecordingKinesis(client("kinesis"), refuse={"01B"})
    pub = StreamPublisher(kinesis, client("sqs"), names.clicks_stream, names.clicks_fallback_queue)
    held = Held()
    hold(held, pub, "01A", "01B", "01C")
    assert held.flush() == Counter(stream=2, fallback=1)
    on_stream = [
        e["click"]["click_id"] for e in stream_records(client("kinesis"), names.clicks_stream)
    ]
    assert on_stream == ["01A", "01C"]
    assert queued(names) == [event("01B")]


def test_kinesis_down_after_the_response_sends_every_held_click_to_the_fallback_queue(names):
    kinesis = RecordingKinesis(client("kinesis"), down=True)
    pub = StreamPublisher(kinesis, client("sqs"), names.clicks_stream, names.clicks_fallback_queue)
    held = Held()
    hold(held, pub, "01A", "01B")
    assert held.flush() == Counter(fallback=2)
    assert stream_records(client("kinesis"), names.clicks_stream) == []
    assert sorted(e["click"]["click_id"] for e in queued(names)) == ["01A", "01B"]


def test_kinesis_and_sqs_down_log_each_click_by_id_and_nothing_raises(names, caplog):
    kinesis = RecordingKinesis(client("kinesis"), down=True)
    pub = StreamPublisher(kinesis, DownSQS(), names.clicks_stream, names.clicks_fallback_queue)
    held = Held()
    hold(held, pub, "01A", "01B")
    with caplog.at_level(logging.ERROR, logger="chalicelib"):
        assert held.flush() == Counter(lost=2)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "click 01A not published" in logged and "click 01B not published" in logged
    assert "203.0.113.9" not in logged  # the log never carries what the click held


def test_a_flush_of_more_than_500_clicks_is_split_into_calls_of_at_most_500(names):
    kinesis = RecordingKinesis(client("kinesis"))
    pub = StreamPublisher(kinesis, client("sqs"), names.clicks_stream, names.clicks_fallback_queue)
    held = Held()
    hold(held, pub, *(f"01{i:04d}" for i in range(MAX_RECORDS + 7)))
    assert held.flush() == Counter(stream=MAX_RECORDS + 7)
    assert kinesis.calls == [MAX_RECORDS, 7]


def test_the_background_flusher_publishes_what_was_answered_and_close_flushes_the_rest(names):
    kinesis = RecordingKinesis(client("kinesis"))
    pub = StreamPublisher(kinesis, client("sqs"), names.clicks_stream, names.clicks_fallback_queue)
    held = Held()
    flusher = BackgroundFlusher(held).start()
    hold(held, pub, "01A")
    held.answered()
    hold(held, pub, "01B")  # answered after the flusher last looked: close() takes it
    flusher.close()
    assert not flusher.thread.is_alive()
    on_stream = {
        e["click"]["click_id"] for e in stream_records(client("kinesis"), names.clicks_stream)
    }
    assert on_stream == {"01A", "01B"}
    assert len(held) == 0


def test_a_process_killed_between_the_response_and_the_flush_loses_only_the_clicks_it_held(names):
    """The fault: invocations answer one click each; the flush runs before the next one starts;
    the process is killed in the window after the n-th response. Lost: that invocation's click,
    never one of before (they were flushed before it started)."""
    kinesis = RecordingKinesis(client("kinesis"))
    pub = StreamPublisher(kinesis, client("sqs"), names.clicks_stream, names.clicks_fallback_queue)
    held = Held()
    n, killed_at = 20, 13
    answered = []
    lost = 0
    for i in range(n):
        cid = f"01K{i:03d}"
        hold(held, pub, cid)
        held.answered()
        answered.append(cid)
        if i == killed_at:
            lost = held.discard()  # the process dies in the window: what it held is gone
            break
        held.flush()  # what the extension does before it asks for the next event
    on_stream = [
        e["click"]["click_id"] for e in stream_records(client("kinesis"), names.clicks_stream)
    ]
    assert lost == 1
    assert on_stream == answered[:killed_at]
    assert set(answered) - set(on_stream) == {answered[killed_at]}


def test_the_mode_is_sync_unless_the_stage_says_after_response_and_nothing_else_is_accepted():
    assert after_response.mode({}) == "sync"
    assert after_response.mode({"REBOUND_PUBLISH_MODE": "after-response"}) == "after-response"
    assert after_response.mode({"REBOUND_PUBLISH_MODE": "sync"}) == "sync"
    with pytest.raises(ValueError, match="after-response, sync"):
        after_response.mode({"REBOUND_PUBLISH_MODE": "later"})


def test_an_extension_that_cannot_register_leaves_publishing_before_the_response(monkeypatch):
    monkeypatch.setattr(after_response, "_started", None)
    monkeypatch.setattr(after_response, "RUNTIME_CLIENTS", [])  # no client known: the extension
    # Nothing listens there: registration fails, start() says so instead of raising at init.
    assert after_response.start({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"}) is None
    assert after_response._started is None


# --- The runtime's posts signal the extension ---------------------------------------------------


class Poster:
    """A runtime client as awslambdaric's: posts a result or an error, which may fail."""

    def __init__(self, fail: bool = False):
        self.fail, self.sent = fail, []

    def post_invocation_result(self, invoke_id, result_data, content_type="application/json"):
        self.sent.append(invoke_id)
        if self.fail:
            raise ConnectionError("Runtime API gone")

    def post_invocation_error(self, invoke_id, error_response_data, xray_fault):
        self.sent.append(invoke_id)


def test_a_hooked_runtime_signals_each_post_once_it_returned_and_even_when_it_failed(monkeypatch):
    held = Held()
    for name in after_response.RUNTIME_POSTS:
        monkeypatch.setattr(Poster, name, Poster.__dict__[name])  # restored after the test
    where = f"{__name__}:Poster"
    assert after_response.hook_runtime_posts(held, [where])
    assert after_response.hook_runtime_posts(held, [where])  # a second init: not wrapped twice
    other = Held()
    assert after_response.hook_runtime_posts(other, [where])  # ... but signals the new one
    poster = Poster()
    poster.post_invocation_result("r0", b"{}")
    assert (other.posts, held.posts) == (1, 0)
    assert after_response.hook_runtime_posts(held, [where])
    assert Poster.post_invocation_result.__wrapped__ is not None
    assert not hasattr(Poster.post_invocation_result.__wrapped__, "__wrapped__")

    poster = Poster()
    poster.post_invocation_result("r1", b"{}")
    assert (poster.sent, held.posts) == (["r1"], 1)
    poster.post_invocation_error("r2", b"{}", "")
    assert held.posts == 2
    with pytest.raises(ConnectionError):
        Poster(fail=True).post_invocation_result("r3", b"{}")
    assert held.posts == 3  # a failed post signals too (and flushes, with RuntimeHook)


def test_no_runtime_client_loaded_means_not_hooked():
    assert not after_response.hook_runtime_posts(Held(), ["not.loaded.module:Client"])
    assert not after_response.hook_runtime_posts(Held(), [f"{__name__}:RecordingKinesis"])


def test_lambdas_python_runtime_client_is_hooked_where_it_posts(monkeypatch):
    """awslambdaric (the client Lambda's python3.12+ runtimes loop on) defines the posts the hook
    wraps; a post through it signals, with its C client's call in place."""
    lrc = pytest.importorskip("awslambdaric.lambda_runtime_client")
    base = lrc.BaseLambdaRuntimeClient
    for name in after_response.RUNTIME_POSTS:
        monkeypatch.setattr(base, name, base.__dict__[name])
    calls = []
    monkeypatch.setattr(lrc.runtime_client, "post_invocation_result", lambda *a: calls.append(a[0]))
    held = Held()
    assert after_response.hook_runtime_posts(held)  # the production list finds it
    assert base.post_invocation_result.signals is held
    client = object.__new__(lrc.LambdaRuntimeClient)
    client.post_invocation_result("r1", '{"statusCode": 302}')
    assert calls == ["r1"] and held.posts == 1


def test_work_left_for_later_runs_in_the_flush_after_the_clicks_and_never_raises(names, caplog):
    held, order = Held(), []
    publisher = StreamPublisher(client("kinesis"), client("sqs"), names.clicks_stream, "nope")
    held.later(lambda: order.append("metric"))
    held.later(lambda: 1 / 0)
    held.hold(publisher, lambda: order.append("record") or encode(event("c1")), "c1")
    assert len(held) == 3 and order == []
    with caplog.at_level(logging.WARNING):
        assert held.flush() == Counter(stream=1)
    assert order == ["record", "metric"] and len(held) == 0
    assert "after-response work failed: ZeroDivisionError" in caplog.text
    held.later(lambda: order.append("again"))
    assert held.discard() == 0 and held.flush() == Counter() and order == ["record", "metric"]


def test_once_the_flusher_stops_nothing_is_held_and_the_redirect_publishes_before_answering(
    names,
):
    """A flusher that stops (the extension's loop ended: the API broke) closes what it flushes:
    what was held is published, a later hold is refused, and later work runs at once."""
    held = Held()
    publisher = StreamPublisher(client("kinesis"), client("sqs"), names.clicks_stream, "nope")
    assert held.hold(publisher, encode(event("c1")), "c1")
    assert held.close() == Counter(stream=1)
    assert not held.hold(publisher, encode(event("c2")), "c2") and len(held) == 0
    ran = []
    held.later(lambda: ran.append(1))
    assert ran == [1]
    assert [
        e["click"]["click_id"] for e in stream_records(client("kinesis"), names.clicks_stream)
    ] == ["c1"]


def test_an_extension_whose_api_breaks_stops_and_the_handler_publishes_before_the_answer(
    names, monkeypatch
):
    """The extension's loop ends (every next-event call fails): it flushes what it held and
    closes, so a redirect after that publishes its click itself instead of holding it."""
    from chalicelib.clicks.after_response import LambdaExtension

    class BrokenAPI:
        def register(self):
            return "id"

        def ask_next(self):
            raise RuntimeError("Runtime API gone")

        def close(self):
            pass

    held = Held()
    extension = LambdaExtension(BrokenAPI(), held, poll=0.01)
    monkeypatch.setattr(after_response, "hook_runtime_posts", lambda *a, **k: False)
    extension.start()
    extension.thread.join(5)
    assert not extension.thread.is_alive() and held.open is False
    publisher = StreamPublisher(client("kinesis"), client("sqs"), names.clicks_stream, "nope")
    assert not held.hold(publisher, encode(event("c1")), "c1")


# --- RuntimeHook: the runtime's thread flushes after its post -----------------------------------


def _hooked(monkeypatch) -> tuple[Held, after_response.RuntimeHook]:
    for name in after_response.RUNTIME_POSTS:
        monkeypatch.setattr(Poster, name, Poster.__dict__[name])  # restored after the test
    monkeypatch.setattr(after_response, "RUNTIME_CLIENTS", [f"{__name__}:Poster"])
    held = Held()
    return held, after_response.RuntimeHook(held).start()


def test_each_post_of_a_result_or_an_error_flushes_in_the_posting_thread(names, monkeypatch):
    import threading

    held, _ = _hooked(monkeypatch)
    kinesis = RecordingKinesis(client("kinesis"))
    pub = StreamPublisher(kinesis, client("sqs"), names.clicks_stream, names.clicks_fallback_queue)
    threads = []
    held.on_flush = lambda where: threads.append(threading.get_ident())
    hold(held, pub, "c1")
    held.answered()
    assert kinesis.calls == []  # answered, not posted: nothing put yet
    Poster().post_invocation_result("r1", b"{}")
    assert kinesis.calls == [1] and threads == [threading.get_ident()]
    hold(held, pub, "c2")
    held.answered()
    Poster().post_invocation_error("r2", b"{}", "")
    hold(held, pub, "c3")
    held.answered()
    with pytest.raises(ConnectionError):  # a post that fails still flushes, then raises on
        Poster(fail=True).post_invocation_result("r3", b"{}")
    assert kinesis.calls == [1, 1, 1] and held.open
    assert [
        e["click"]["click_id"] for e in stream_records(client("kinesis"), names.clicks_stream)
    ] == [
        "c1",
        "c2",
        "c3",
    ]


def test_without_a_runtime_client_known_no_runtime_hook_starts(monkeypatch):
    monkeypatch.setattr(after_response, "RUNTIME_CLIENTS", ["not.loaded.module:Client"])
    with pytest.raises(LookupError):
        after_response.RuntimeHook(Held()).start()


def test_two_answers_without_a_post_between_publish_what_is_held_and_hold_nothing_more(
    names, monkeypatch, caplog
):
    """The runtime posts some other way than the hooked methods: the second answer publishes
    both clicks (before its own response) and closes; the next click is not held."""
    held, _ = _hooked(monkeypatch)
    pub = StreamPublisher(client("kinesis"), client("sqs"), names.clicks_stream, "nope")
    hold(held, pub, "c1")
    held.answered()  # ... and no post
    hold(held, pub, "c2")
    with caplog.at_level(logging.WARNING):
        held.answered()
    assert "the runtime's posts do not flush" in caplog.text
    assert held.open is False and held.flush_on_post is False and len(held) == 0
    assert not held.hold(pub, encode(event("c3")), "c3")
    ids = [e["click"]["click_id"] for e in stream_records(client("kinesis"), names.clicks_stream)]
    assert ids == ["c1", "c2"]


def test_invocations_at_once_on_threads_of_their_own_are_not_taken_for_unposted_answers(
    names, monkeypatch
):
    """Where a runtime runs invocations at once (a thread each), two answers come before either
    post: each thread's own answer-then-post is what counts."""
    import threading

    held, _ = _hooked(monkeypatch)
    pub = StreamPublisher(client("kinesis"), client("sqs"), names.clicks_stream, "nope")
    both_answered = threading.Barrier(2)

    def invocation(cid: str) -> None:
        hold(held, pub, cid)
        held.answered()
        both_answered.wait(5)
        Poster().post_invocation_result(cid, b"{}")

    threads = [threading.Thread(target=invocation, args=(c,)) for c in ("c1", "c2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert held.open and held.flush_on_post and len(held) == 0
    ids = {e["click"]["click_id"] for e in stream_records(client("kinesis"), names.clicks_stream)}
    assert ids == {"c1", "c2"}


def test_closing_the_hook_publishes_what_is_held_and_a_later_post_flushes_nothing(
    names, monkeypatch
):
    held, hook = _hooked(monkeypatch)
    kinesis = RecordingKinesis(client("kinesis"))
    pub = StreamPublisher(kinesis, client("sqs"), names.clicks_stream, names.clicks_fallback_queue)
    hold(held, pub, "c1")
    hook.close()
    assert kinesis.calls == [1] and held.open is False
    Poster().post_invocation_result("r1", b"{}")
    assert kinesis.calls == [1]
