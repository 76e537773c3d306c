"""Publishing clicks: one PutRecord; SQS when Kinesis fails; re-published once from SQS."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks.stream import StreamPublisher, republish


def event(click_id: str) -> dict:
    return {"kind": "click", "click": {"click_id": click_id, "slug": "s"}, "ip": "203.0.113.9"}


def stream_records(kinesis, stream: str) -> list[dict]:
    out = []
    for shard in kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out += [json.loads(r["Data"]) for r in kinesis.get_records(ShardIterator=it)["Records"]]
    return out


class Throttled:
    """A Kinesis client that refuses every write, as a throttled stream does."""

    def put_record(self, **kw):
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "PutRecord",
        )


@pytest.fixture
def names(aws) -> Names:
    return Names.from_env()


def test_a_click_is_one_put_record_keyed_by_click_id(names):
    kinesis = client("kinesis")
    pub = StreamPublisher(kinesis, client("sqs"), names.clicks_stream, names.clicks_fallback_queue)
    assert pub.publish(event("01A"), "01A") == "stream"
    assert stream_records(kinesis, names.clicks_stream) == [event("01A")]


def test_throttled_kinesis_sends_the_click_to_the_fallback_queue_then_republish_once(names):
    sqs, kinesis = client("sqs"), client("kinesis")
    pub = StreamPublisher(Throttled(), sqs, names.clicks_stream, names.clicks_fallback_queue)
    assert pub.publish(event("01B"), "01B") == "fallback"
    assert stream_records(kinesis, names.clicks_stream) == []

    url = sqs.get_queue_url(QueueName=names.clicks_fallback_queue)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [event("01B")]
    failed = republish(
        kinesis, names.clicks_stream, [(m["MessageId"], m["Body"]) for m in messages]
    )
    assert failed == []
    assert stream_records(kinesis, names.clicks_stream) == [event("01B")]


def test_republish_reports_failures_so_the_messages_stay_queued(names):
    class Down:
        def put_records(self, **kw):
            raise ConnectionError("down")

    assert republish(Down(), names.clicks_stream, [("m1", json.dumps(event("01C")))]) == ["m1"]


def test_republish_drops_messages_that_are_not_click_events(names):
    kinesis = client("kinesis")
    assert republish(kinesis, names.clicks_stream, [("m1", "not json"), ("m2", "{}")]) == []
    assert stream_records(kinesis, names.clicks_stream) == []


def test_when_both_kinesis_and_sqs_fail_the_click_is_logged_without_its_ip(names, caplog):
    class SqsDown:
        def get_queue_url(self, **kw):
            raise ConnectionError("down")

    pub = StreamPublisher(Throttled(), SqsDown(), names.clicks_stream, names.clicks_fallback_queue)
    assert pub.publish(event("01D"), "01D") == "lost"
    assert "01D" in caplog.text
    assert "203.0.113.9" not in caplog.text


def test_a_lost_click_is_logged_by_click_id_and_error_code_without_user_data(names, caplog):
    class Down(Throttled):
        def send_message(self, **kw):
            raise ClientError(
                {"Error": {"Code": "ServiceUnavailable", "Message": "x"}}, "SendMessage"
            )

        def get_queue_url(self, **kw):
            return {"QueueUrl": "https://sqs.invalid/q"}

    envelope = {
        "kind": "click",
        "click": {"click_id": "01L", "destination": "https://s.example/?email=jane@example.com"},
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (Jane's phone)",
    }
    pub = StreamPublisher(Down(), Down(), names.clicks_stream, names.clicks_fallback_queue)
    with caplog.at_level("INFO"):
        assert pub.publish(envelope, "01L") == "lost"
    logged = caplog.text
    assert "01L" in logged and "ServiceUnavailable" in logged
    for private in ("203.0.113.9", "jane", "Mozilla", "s.example"):
        assert private not in logged


def test_an_event_that_cannot_be_encoded_is_lost_and_logged_never_raised(names, caplog):
    pub = StreamPublisher(
        Throttled(), Throttled(), names.clicks_stream, names.clicks_fallback_queue
    )
    assert pub.publish({"kind": "click", "click": {"x": object()}}, "01E") == "lost"
    assert "01E" in caplog.text


def test_a_lone_surrogate_is_published_as_valid_utf8(names):
    kinesis = client("kinesis")
    pub = StreamPublisher(kinesis, client("sqs"), names.clicks_stream, names.clicks_fallback_queue)
    assert pub.publish({"kind": "click", "click": {"click_id": "01S", "x": "a\ud800"}}, "01S")
    (record,) = stream_records(kinesis, names.clicks_stream)
    assert record["click"]["x"] == "a\ufffd"
