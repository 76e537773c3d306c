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
    # Nothing listens there: registration fails, start() says so instead of raising at init.
    assert after_response.start({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"}) is None
    assert after_response._started is None
