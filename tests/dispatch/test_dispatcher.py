"""The dispatcher on moto with fake platforms on 127.0.0.1: batching, retries, DLQ, idempotency,
consent, dry run."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from datetime import timedelta

import pytest

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.dispatch.ledger import DEAD, DRY_RUN, SENT
from chalicelib.dispatch.sinks import IP_REDACTED
from tests.dispatch.scenario import (
    IP,
    META_TOKEN,
    NOW,
    UA,
    batch,
    click,
    configure,
    conversion,
    dispatcher,
    dlq_messages,
    outcome_rows,
    status,
)

# --- What is sent ---------------------------------------------------------------------------------


def test_a_human_click_fires_a_page_view_on_each_platform_of_its_audiences(aws, fakes):
    configure(fakes)
    meta, tiktok = fakes
    env = click()
    result = dispatcher().handle(batch(env))
    assert result == {"batchItemFailures": []}
    (m,) = meta.received
    assert m.path == "/v26.0/1234/events"
    assert m.query["access_token"] == [META_TOKEN]
    (event,) = m.json["data"]
    assert event["event_name"] == "PageView"
    assert event["event_id"] == env["click"]["click_id"]
    assert event["user_data"]["client_ip_address"] == IP
    assert event["user_data"]["client_user_agent"] == UA
    click_ms = int(NOW.timestamp() * 1000)
    assert event["user_data"]["fbc"] == f"fb.1.{click_ms}.IwAR2xYz_-AbC"
    assert event["event_source_url"] == "https://go.localhost/spring-sale"
    (t,) = tiktok.received
    assert t.header("Access-Token") == "tt-secret"
    assert t.json["data"][0]["event_id"] == env["click"]["click_id"]
    assert t.json["data"][0]["user"]["ttclid"] == "E.C.P.tt"


@pytest.mark.parametrize(
    "overrides",
    [{"is_bot": True}, {"consent": "denied"}, {"platforms": []}],
    ids=["bot", "consent-denied", "no-audience"],
)
def test_no_event_for_bots_denied_consent_or_links_outside_audiences(aws, fakes, overrides):
    configure(fakes)
    dispatcher().handle(batch(click(**overrides)))
    assert fakes[0].received == [] and fakes[1].received == []


def test_limited_data_use_from_the_domain_settings(aws, fakes):
    configure(fakes, ldu=True)
    dispatcher().handle(batch(click()))
    event = fakes[0].received[0].json["data"][0]
    assert event["data_processing_options"] == ["LDU"]
    assert fakes[1].received[0].json["data"][0]["limited_data_use"] is True


def test_clicks_are_batched_into_one_request_per_platform(aws, fakes):
    configure(fakes)
    dispatcher().handle(batch(*[click() for _ in range(30)]))
    assert [len(r.json["data"]) for r in fakes[0].received] == [30]
    assert [len(r.json["data"]) for r in fakes[1].received] == [30]


def test_a_conversion_carries_the_original_clicks_ids_and_only_hashes(aws, fakes):
    configure(fakes)
    c = click()
    dispatcher().handle(batch(conversion(c)))
    (m,) = fakes[0].received
    (event,) = m.json["data"]
    assert event["event_name"] == "Purchase"
    assert event["event_id"] == "order-1001"
    assert event["custom_data"] == {"currency": "EUR", "value": 49.5}
    assert event["user_data"]["em"] == [hashlib.sha256(b"jane@example.com").hexdigest()]
    assert event["user_data"]["fbc"].endswith(".IwAR2xYz_-AbC")
    assert event["user_data"]["client_ip_address"] == "198.51.100.4"
    assert event["user_data"]["client_user_agent"] == UA


def test_unattributed_or_denied_conversions_fire_nothing(aws, fakes):
    configure(fakes)
    dispatcher().handle(batch(conversion(None), conversion(click(consent="denied"), event_id="o2")))
    assert fakes[0].received == [] and fakes[1].received == []


# --- Reliability ----------------------------------------------------------------------------------


def test_a_replayed_batch_sends_nothing_twice(aws, fakes):
    configure(fakes)
    events = batch(click(), click(), conversion(click()))
    dispatcher().handle(events)
    counts = (len(fakes[0].received), len(fakes[1].received))
    report = dispatcher().dispatch(events)
    assert (len(fakes[0].received), len(fakes[1].received)) == counts
    assert report.duplicates == {"meta": 3, "tiktok": 3}


def test_retryable_errors_are_retried_then_succeed(aws, fakes):
    configure(fakes)
    meta = fakes[0]
    meta.answer(429, {"error": {"message": "slow down", "code": 4}})
    meta.answer(500, b"oops")
    env = click()
    dispatcher().handle(batch(env))
    assert len(meta.received) == 3
    assert status("meta", env) == SENT
    assert dlq_messages() == []


def test_permanent_errors_are_not_retried_and_land_in_the_dlq_with_the_reason(aws, fakes):
    configure(fakes)
    meta = fakes[0]
    meta.answer(
        400,
        {"error": {"message": "Invalid OAuth access token", "code": 190, "is_transient": False}},
    )
    env = click()
    dispatcher().handle(batch(env))
    assert len(meta.received) == 1
    (dead,) = dlq_messages()
    assert dead["platform"] == "meta" and dead["outcome"] == "permanent"
    assert "190" in dead["reason"] or "OAuth" in dead["reason"]
    assert dead["event"]["event_id"] == env["click"]["click_id"]
    assert dead["event"]["ip"] is None  # no full IP at rest, not even in the DLQ
    assert META_TOKEN not in json.dumps(dead)
    assert status("meta", env) == DEAD
    dispatcher().handle(batch(env))  # a replay does not try again
    assert len(meta.received) == 1
    assert len(fakes[1].received) == 1  # tiktok was not held back


def test_exhausted_retries_land_in_the_dlq(aws, fakes):
    configure(fakes)
    fakes[0].default = (503, b"unavailable")
    dispatcher().handle(batch(click()))
    assert len(fakes[0].received) == 4  # the retry budget
    (dead,) = dlq_messages()
    assert dead["outcome"] == "retry" and "503" in dead["reason"]


def test_a_slow_platform_does_not_hold_back_the_others(aws, fakes):
    configure(fakes)
    meta, tiktok = fakes
    meta.hold = threading.Event()  # meta answers when the test says so
    done = threading.Event()
    worker = threading.Thread(target=lambda: (dispatcher().handle(batch(click())), done.set()))
    worker.start()
    try:
        assert meta.arrived.wait(timeout=60), "meta never got its event"
        assert tiktok.answered.wait(timeout=60), "tiktok waited for meta"
        assert not meta.answered.is_set() and not done.is_set()  # meta still in flight
    finally:
        meta.hold.set()
        worker.join(timeout=60)
    assert done.is_set() and len(meta.received) == 1


def test_unreadable_credentials_dead_letter_the_events_without_leaking_anything(aws, fakes):
    configure(fakes, meta_extra={"access_token": "ssm:/t/missing"})
    dispatcher().handle(batch(click()))
    assert fakes[0].received == []
    (dead,) = dlq_messages()
    assert "ssm:/t/missing" in dead["reason"]


def test_credentials_never_go_to_an_endpoint_the_stage_does_not_permit(aws, fakes, monkeypatch):
    configure(fakes)
    monkeypatch.setenv("REBOUND_ALLOW_ENDPOINTS", "false")
    report = dispatcher().dispatch(batch(click()))
    assert fakes[0].received == [] and fakes[1].received == []
    assert report.failed_sequences == set()  # settled: a retry would be refused the same way
    reasons = {dead["reason"] for dead in dlq_messages()}
    assert reasons == {"endpoint override not permitted on this stage"}


def test_ledger_outage_reports_the_records_for_retry(aws, fakes):
    configure(fakes)

    class Down:
        def claim(self, *a, **k):
            raise ConnectionError("dynamodb down")

    result = dispatcher(ledger=Down()).handle(batch(click(), first_seq=77))
    assert result == {"batchItemFailures": [{"itemIdentifier": "77"}]}


def test_malformed_records_are_skipped_not_fatal(aws, fakes):
    configure(fakes)
    event = batch(click())
    event["Records"].insert(
        0, {"kinesis": {"sequenceNumber": "1", "data": base64.b64encode(b"{not json").decode()}}
    )
    assert dispatcher().handle(event) == {"batchItemFailures": []}
    assert len(fakes[0].received) == 1


# --- Dry run --------------------------------------------------------------------------------------


def test_dry_run_records_the_exact_request_without_secrets_or_ips(aws, fakes):
    configure(fakes, meta_extra={"dry_run": True})
    env = click()
    dispatcher().handle(batch(env))
    assert fakes[0].received == []  # nothing sent
    assert len(fakes[1].received) == 1  # tiktok is live
    s3, bucket = client("s3"), Names.from_env().lake_bucket_name()
    (obj,) = s3.list_objects_v2(Bucket=bucket, Prefix="platform-requests/")["Contents"]
    text = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
    doc = json.loads(text)
    assert doc["platform"] == "meta" and doc["event_ids"] == [env["click"]["click_id"]]
    assert doc["body"]["data"][0]["user_data"]["client_ip_address"] == IP_REDACTED
    assert META_TOKEN not in text and IP not in text
    assert status("meta", env) == DRY_RUN


def test_dry_run_by_default_unless_a_platform_sets_an_endpoint(aws, fakes):
    configure(fakes, meta_extra={"endpoint": None})
    report = dispatcher(dry_run_default=True).dispatch(batch(click()))
    assert len(fakes[1].received) == 1  # tiktok has an endpoint: sent for real
    assert report.sent == {"meta": 1, "tiktok": 1}
    assert fakes[0].received == []


def test_stale_events_are_rejected_before_batching_and_do_not_sink_the_batch(aws, fakes):
    configure(fakes)
    old = click(ts=(NOW - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    fresh = click()
    dispatcher().handle(batch(old, fresh))
    (m,) = fakes[0].received
    assert [e["event_id"] for e in m.json["data"]] == [fresh["click"]["click_id"]]
    assert {d["event"]["event_id"] for d in dlq_messages()} == {old["click"]["click_id"]}


def test_every_outcome_is_logged_to_the_lake_once_without_ips(aws, fakes):
    configure(fakes)
    fakes[0].answer(400, {"error": {"message": "bad", "code": 100}})
    envs = [click(), click()]
    dispatcher().handle(batch(*envs))
    dispatcher().handle(batch(*envs))  # replay: nothing new to log
    rows = outcome_rows()
    assert sorted((r["platform"], r["status"]) for r in rows) == [
        ("meta", "dead"),
        ("meta", "dead"),
        ("tiktok", "sent"),
        ("tiktok", "sent"),
    ]
    assert IP not in json.dumps(rows)
    assert {r["event_id"] for r in rows} == {e["click"]["click_id"] for e in envs}


def test_rejected_events_are_settled_together_not_one_call_each(aws, fakes):
    configure(fakes)
    stale = (NOW - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    olds = [click(ts=stale) for _ in range(5)]
    calls: list[str] = []

    def count(event_name: str, **_: object) -> None:
        calls.append(event_name.split(".")[-1])

    events = client("dynamodb").meta.events
    events.register("before-call.dynamodb.*", count)
    try:
        dispatcher().handle(batch(*olds))
    finally:
        events.unregister("before-call.dynamodb.*", count)
    # per platform: 5 claims, then one BatchWriteItem for the 5 rejects with the same reason
    assert calls.count("BatchWriteItem") == 2
    assert calls.count("PutItem") == 10
    assert fakes[0].received == [] and fakes[1].received == []
    rows = outcome_rows()
    assert sorted({(r["platform"], r["status"]) for r in rows}) == [
        ("meta", "rejected"),
        ("tiktok", "rejected"),
    ]
    assert len(rows) == 10
    assert {d["event"]["event_id"] for d in dlq_messages()} == {
        e["click"]["click_id"] for e in olds
    }
