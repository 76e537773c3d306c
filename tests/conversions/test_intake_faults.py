"""The postback under AWS faults, injected on botocore's event system, then replayed as a merchant
would: a 202 is only ever given for a conversion that is on the stream (or its fallback queue),
a retry is never taken for a duplicate of something that was lost, and what reaches the stream
twice is one conversion (same ``conversion_id``, same ``ts``) that the lake keeps once."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from chalicelib.aws.clients import HOT_PATH_TIMEOUTS, client
from chalicelib.aws.names import Names
from chalicelib.conversions.intake import IN_FLIGHT_SECONDS, marker_key
from chalicelib.rollup.compact import CONVERSIONS, compact, connect
from tests.conversions.conftest import post, stream_events
from tests.conversions.test_intake import archive_stream
from tests.infra.templates import resources as template_resources

_ids = itertools.count()


class ProcessDied(BaseException):
    """The Lambda died here (a timeout, an OOM kill): nothing after this line ran."""


def throttled(**_: Any) -> None:
    raise ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "Op",
    )


def timed_out(**_: Any) -> None:
    raise ReadTimeoutError(endpoint_url="https://aws.example")


def died(**_: Any) -> None:
    raise ProcessDied()


@contextmanager
def fault(service_client: Any, event: str, handler: Callable[..., Any]) -> Iterator[None]:
    """``handler`` on ``event`` (``before-call.kinesis.PutRecord``) for the duration."""
    unique = f"fault-{next(_ids)}"
    service_client.meta.events.register(event, handler, unique_id=unique)
    try:
        yield
    finally:
        service_client.meta.events.unregister(event, unique_id=unique)


def lead(event_id: str) -> dict:
    return {"event": "lead", "event_id": event_id, "value": 10, "currency": "EUR"}


def on_stream(event_id: str) -> list[dict]:
    return [
        e["conversion"]
        for e in stream_events("conversion")
        if e["conversion"]["event_id"] == event_id
    ]


def in_fallback_queue(event_id: str) -> list[dict]:
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=Names.from_env().clicks_fallback_queue)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    events = [json.loads(m["Body"]) for m in messages]
    return [e["conversion"] for e in events if e["conversion"]["event_id"] == event_id]


def delivered(event_id: str) -> list[dict]:
    return on_stream(event_id) + in_fallback_queue(event_id)


def later(intake, seconds: float) -> None:
    """The intake's clock moves on (the in-flight window of an earlier claim runs out)."""
    intake.now = lambda: datetime.now(UTC) + timedelta(seconds=seconds)


def marker(event_id: str) -> dict | None:
    return (
        client("dynamodb")
        .get_item(
            TableName=Names.from_env().state_table,
            Key={"pk": {"S": marker_key("go.localhost", event_id)}},
            ConsistentRead=True,
        )
        .get("Item")
    )


def assert_202_only_if_delivered(response, event_id: str) -> None:
    if response.status_code == 202:
        assert delivered(event_id), "a 202 for a conversion that is on neither stream nor queue"


# --- Crash after success, then the merchant's retry -------------------------------------------------


def test_a_crash_after_the_claim_is_retried_later_then_published_never_a_false_duplicate(
    http, intake
):
    with fault(intake.ddb, "after-call.dynamodb.PutItem", died), pytest.raises(ProcessDied):
        post(http, lead("crash-claim"))
    assert delivered("crash-claim") == []

    soon = post(http, lead("crash-claim"))  # the claim may still be someone's, in flight
    assert soon.status_code == 503
    assert 1 <= int(soon.headers["Retry-After"]) <= IN_FLIGHT_SECONDS
    assert "in progress" in soon.json_body["errors"][0]["message"]

    later(intake, IN_FLIGHT_SECONDS + 1)  # the claimant is surely dead: the retry publishes
    retry = post(http, lead("crash-claim"))
    assert retry.status_code == 202 and retry.json_body["duplicate"] is False
    (published,) = on_stream("crash-claim")
    assert published["conversion_id"] == retry.json_body["conversion_id"]

    again = post(http, lead("crash-claim"))
    assert again.status_code == 202 and again.json_body["duplicate"] is True
    assert again.json_body["conversion_id"] == retry.json_body["conversion_id"]
    assert len(on_stream("crash-claim")) == 1


def test_a_crash_after_the_put_republishes_the_same_conversion_which_the_lake_keeps_once(
    http, intake, tmp_path
):
    with (
        fault(intake.publisher.kinesis, "after-call.kinesis.PutRecord", died),
        pytest.raises(ProcessDied),
    ):
        post(http, lead("crash-put"))
    (first,) = on_stream("crash-put")  # it did reach the stream; the merchant does not know

    soon = post(http, lead("crash-put"))
    assert soon.status_code == 503  # in flight: neither a 202 nor a second copy yet
    assert len(on_stream("crash-put")) == 1

    later(intake, IN_FLIGHT_SECONDS + 1)
    retry = post(http, lead("crash-put"))
    assert retry.status_code == 202
    copies = on_stream("crash-put")
    assert len(copies) == 2  # at least once: the same conversion, twice
    assert {c["conversion_id"] for c in copies} == {first["conversion_id"]}
    assert {c["ts"] for c in copies} == {first["ts"]}  # same hour partition: compacted together
    assert retry.json_body["conversion_id"] == first["conversion_id"]

    archive_stream()
    s3, bucket = client("s3"), Names.from_env().lake_bucket_name()
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="conversions/").get("Contents", [])
    ]
    files = []
    for i, key in enumerate(keys):
        path = tmp_path / f"{i}.json.gz"
        path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        files.append(path)
    raw = [json.loads(line) for f in files for line in gzip.decompress(f.read_bytes()).splitlines()]
    assert [r["event_id"] for r in raw] == ["crash-put", "crash-put"]
    assert compact(connect(tmp_path), CONVERSIONS, files, tmp_path / "out.parquet") == 1


def test_a_publish_then_a_failed_confirmation_is_still_a_202(http, intake):
    with fault(intake.ddb, "before-call.dynamodb.UpdateItem", throttled):
        r = post(http, lead("no-confirm"))
    assert r.status_code == 202 and r.json_body["duplicate"] is False
    assert len(on_stream("no-confirm")) == 1


# --- Both ways onto the stream fail -----------------------------------------------------------------


@pytest.mark.parametrize("kinesis_fault", [throttled, timed_out], ids=["throttled", "timeout"])
def test_stream_and_fallback_down_is_a_503_and_the_retry_publishes(http, intake, kinesis_fault):
    with (
        fault(intake.publisher.kinesis, "before-call.kinesis.PutRecord", kinesis_fault),
        fault(intake.publisher.sqs, "before-call.sqs.SendMessage", throttled),
    ):
        r = post(http, lead("both-down"))
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert delivered("both-down") == []
    assert marker("both-down") is None  # released: the retry is not a duplicate

    retry = post(http, lead("both-down"))
    assert retry.status_code == 202 and retry.json_body["duplicate"] is False
    assert len(on_stream("both-down")) == 1


def test_a_marker_that_could_not_be_released_never_makes_the_retry_a_duplicate(http, intake):
    with (
        fault(intake.publisher.kinesis, "before-call.kinesis.PutRecord", throttled),
        fault(intake.publisher.sqs, "before-call.sqs.SendMessage", throttled),
        fault(intake.ddb, "before-call.dynamodb.DeleteItem", throttled),
    ):
        r = post(http, lead("stuck"))
    assert r.status_code == 503

    soon = post(http, lead("stuck"))
    assert soon.status_code == 503  # never "202 duplicate" for what is nowhere
    assert_202_only_if_delivered(soon, "stuck")

    later(intake, IN_FLIGHT_SECONDS + 1)
    retry = post(http, lead("stuck"))
    assert retry.status_code == 202 and retry.json_body["duplicate"] is False
    assert len(on_stream("stuck")) == 1


@pytest.mark.parametrize("kinesis_fault", [throttled, timed_out], ids=["throttled", "timeout"])
def test_the_stream_down_sends_the_conversion_to_the_fallback_queue(http, intake, kinesis_fault):
    with fault(intake.publisher.kinesis, "before-call.kinesis.PutRecord", kinesis_fault):
        r = post(http, lead("via-sqs"))
    assert r.status_code == 202
    (queued,) = in_fallback_queue("via-sqs")
    assert queued["conversion_id"] == r.json_body["conversion_id"]


# --- DynamoDB slow or failing before anything is published -----------------------------------------


@pytest.mark.parametrize("operation", ["PutItem", "GetItem"], ids=["claim", "click-index"])
@pytest.mark.parametrize("ddb_fault", [throttled, timed_out], ids=["throttled", "timeout"])
def test_dynamodb_failing_before_the_publish_is_a_503_and_the_retry_is_accepted(
    http, intake, operation, ddb_fault
):
    post(http, lead("warm"))  # the domain is cached: the fault hits the postback's own calls
    body = {**lead("ddb-fault"), "click_id": "01KAQ3V7R9Y2C8M4T6W0XBZDEF"}
    with fault(intake.ddb, f"before-call.dynamodb.{operation}", ddb_fault):
        r = post(http, body)
    assert r.status_code == 503
    assert delivered("ddb-fault") == []
    retry = post(http, body)
    assert retry.status_code == 202 and retry.json_body["duplicate"] is False
    assert len(on_stream("ddb-fault")) == 1


def test_the_intake_talks_to_dynamodb_with_short_explicit_timeouts(intake):
    config = intake.ddb.meta.config
    assert config.connect_timeout == HOT_PATH_TIMEOUTS["connect_timeout"]
    assert config.read_timeout == HOT_PATH_TIMEOUTS["read_timeout"]
    # botocore counts retries in max_attempts: the first try and at most two more.
    assert config.retries["total_max_attempts"] <= 3


def test_a_claim_stays_in_flight_longer_than_the_function_can_run():
    """Only a dead claimant's claim may be taken over: its window outlasts the function."""
    timeout = template_resources()["APIHandler"]["Properties"]["Timeout"]
    assert timeout < IN_FLIGHT_SECONDS


# --- Hostile bodies never reach the claim -----------------------------------------------------------


def test_a_lone_surrogate_is_a_400_that_leaves_no_marker_and_the_fixed_body_is_accepted(http):
    body = b'{"event": "lead", "event_id": "uni-1", "user": {"city": "x\\ud800"}}'
    r = post(http, body)
    assert r.status_code == 400
    assert r.json_body["errors"][0]["field"] == "user.city"
    assert marker("uni-1") is None and delivered("uni-1") == []
    fixed = post(http, {"event": "lead", "event_id": "uni-1", "user": {"city": "Zürich"}})
    assert fixed.status_code == 202 and fixed.json_body["duplicate"] is False


def test_an_event_id_with_a_path_in_it_is_a_400(http):
    r = post(http, {"event": "lead", "event_id": "../../../tmp/x"})
    assert r.status_code == 400
    assert [e["field"] for e in r.json_body["errors"]] == ["event_id"]
    assert stream_events() == []
