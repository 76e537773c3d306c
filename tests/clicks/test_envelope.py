"""The stream contract: envelopes to bytes and back, the Lambda Kinesis event, batch failures."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from chalicelib.clicks.envelope import (
    Malformed,
    batch_failures,
    decode,
    encode,
    failed_identifiers,
    kinesis_event,
    partition_key,
    read_envelope,
    sequence_number,
    shard_id,
)

ENVELOPE = {"kind": "click", "click": {"click_id": "01A", "slug": "s"}, "ip": "203.0.113.9"}


def test_an_envelope_is_compact_utf8_json_and_decodes_to_itself():
    data = encode({**ENVELOPE, "user_agent": "Ünïcode"})
    assert data.startswith(b'{"kind":"click","click":{') and "Ünïcode".encode() in data
    assert decode(data) == {**ENVELOPE, "user_agent": "Ünïcode"}


def test_a_lone_surrogate_is_encoded_as_a_replacement_character():
    assert decode(encode({"kind": "click", "click": {"x": "a\ud800"}}))["click"]["x"] == "a\ufffd"


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"{not json", "data is not valid JSON"), (b"[1]", "envelope is not a JSON object")],
)
def test_what_is_not_an_envelope_says_why(data, reason):
    with pytest.raises(Malformed, match=reason):
        decode(data)


def test_the_partition_key_is_the_click_conversion_or_event_id():
    assert partition_key(ENVELOPE) == "01A"
    assert partition_key({"kind": "conversion", "conversion": {"conversion_id": "C1"}}) == "C1"
    with pytest.raises(KeyError):
        partition_key({})


def get_records(*envelopes: dict) -> list[dict]:
    """Records as Kinesis GetRecords returns them."""
    arrival = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
    return [
        {
            "PartitionKey": e["click"]["click_id"],
            "SequenceNumber": str(100 + i),
            "Data": encode(e),
            "ApproximateArrivalTimestamp": arrival,
        }
        for i, e in enumerate(envelopes)
    ]


def test_the_lambda_event_carries_each_record_base64_and_reads_back():
    event = kinesis_event(get_records(ENVELOPE, ENVELOPE), "shardId-000000000001", "arn", "eu")
    first, second = event["Records"]
    assert first["eventID"] == "shardId-000000000001:100" and first["eventSource"] == "aws:kinesis"
    assert first["kinesis"]["partitionKey"] == "01A"
    assert first["kinesis"]["approximateArrivalTimestamp"] == 1795435200.0
    assert [sequence_number(r) for r in event["Records"]] == ["100", "101"]
    assert shard_id(second) == "shardId-000000000001"
    assert read_envelope(first) == ENVELOPE


def test_a_record_that_is_not_strict_base64_of_an_object_is_malformed():
    (record,) = kinesis_event(get_records(ENVELOPE), "shardId-000000000000", "arn", "eu")["Records"]
    for data, reason in [
        ("not base64!", "data is not valid base64"),
        (None, "data is not valid base64"),
        (base64.b64encode(b"{not json").decode(), "data is not valid JSON"),
    ]:
        with pytest.raises(Malformed, match=reason):
            read_envelope({**record, "kinesis": {**record["kinesis"], "data": data}})
    assert shard_id({"eventID": "nonsense"}) == "shardId-unknown"


def test_batch_failures_keep_the_order_given_and_read_back():
    result = batch_failures(["7", "12"])
    assert result == {"batchItemFailures": [{"itemIdentifier": "7"}, {"itemIdentifier": "12"}]}
    assert failed_identifiers(result) == ["7", "12"]
    assert failed_identifiers(None) == [] and failed_identifiers({"batchItemFailures": []}) == []
