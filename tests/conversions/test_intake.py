"""POST /_/conversions through the HTTP layer on moto: auth, validation, idempotency, attribution,
and no clear personal data anywhere it could be kept."""

from __future__ import annotations

import gzip
import json
import logging
import re
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks.envelope import kinesis_event
from chalicelib.clicks.ids import new_click_id
from chalicelib.conversions.intake import MAX_BODY_BYTES, marker_key
from chalicelib.conversions.signature import sign
from chalicelib.lake.archive import archive_batch
from tests.browser.server import serve
from tests.conversions.conftest import (
    CHROME,
    OTHER_SECRET,
    SECRET,
    body_of,
    post,
    stream_events,
    stream_records,
)

EMAIL = "Jane.Doe+promo@Example.com"
PHONE = "(650) 253-0000"
# Every way the clear values could appear once stored, normalised or not.
CLEAR = [
    "jane.doe",
    "Jane.Doe",
    "example.com",
    "Example.com",
    "6502530000",
    "650) 253",
    "2530000",
    "253-0000",
    "Doe",
    "Springfield",
    "customer-77",
]
CHECKOUT_UA = "Mozilla/5.0 (Macintosh) Checkout/1.0"


def lead(event_id: str = "lead-1", **extra) -> dict:
    return {"event": "lead", "event_id": event_id, **extra}


def click(http, *, host: str = "go.localhost", query: str = "", **headers) -> str:
    """Click the tracked link; returns the click id it appended (rb_cid)."""
    r = http.get(f"/sale{query}", headers={"Host": host, "User-Agent": CHROME, **headers})
    assert r.status_code == 302
    return parse_qs(urlsplit(r.headers["Location"]).query)["rb_cid"][0]


def archive_stream() -> None:
    """Run the archiver over everything on the stream (the click index gets the clicks)."""
    names = Names.from_env()
    by_shard: dict[str, list] = {}
    for r in stream_records():
        by_shard.setdefault(r["ShardId"], []).append(r)
    for shard, records in by_shard.items():
        result = archive_batch(
            kinesis_event(records, shard, "arn:aws:kinesis:us-east-1:1:stream/x", "us-east-1"),
            s3=client("s3"),
            dynamodb=client("dynamodb"),
            bucket=names.lake_bucket_name(),
            click_index_table=names.click_index_table,
        )
        assert result == {"batchItemFailures": []}


def errors_of(response) -> dict:
    return {e["field"]: e["message"] for e in response.json_body["errors"]}


# --- Authentication ------------------------------------------------------------------------------


def test_a_signed_lead_is_accepted(http):
    r = post(http, lead())
    assert r.status_code == 202
    assert r.headers["Content-Type"] == "application/json"
    assert r.json_body == {
        "conversion_id": r.json_body["conversion_id"],
        "attributed": False,
        "duplicate": False,
    }
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", r.json_body["conversion_id"])  # a ULID
    (event,) = stream_events("conversion")
    assert event["conversion"]["conversion_id"] == r.json_body["conversion_id"]


# One stack for all cases: each is a separate request, and none may queue anything.
UNAUTHENTICATED = [
    ({"secret": None}, "missing Rebound-Signature"),
    ({"signature": "sha256=abc"}, "malformed"),
    ({"secret": "not-the-secret"}, "does not match"),
    ({"secret": OTHER_SECRET}, "does not match"),  # another domain's secret
    ({"skew": -310}, "300 seconds"),  # stale
    ({"skew": 310}, "300 seconds"),  # from the future
    ({"host": "nosecret.localhost"}, "no conversion_secret is configured for nosecret"),
    ({"host": "unset.localhost"}, "no conversion_secret"),  # the SSM parameter is missing
    ({"host": "unknown.localhost"}, "no conversion_secret"),
    ({"host": "bad_host!"}, "no conversion_secret"),
]


def test_unauthenticated_postbacks_are_refused_with_401_and_queue_nothing(http):
    for kwargs, reason in UNAUTHENTICATED:
        r = post(http, lead(), **kwargs)
        assert r.status_code == 401, kwargs
        assert r.headers["WWW-Authenticate"] == "Rebound-Signature"
        ((field, message),) = errors_of(r).items()
        assert field == "Rebound-Signature" and reason in message, (kwargs, message)
    assert stream_events() == []


def test_a_body_changed_after_signing_is_refused(http):
    body = body_of(lead(value=1, currency="EUR"))
    signature = sign(body, SECRET, int(time.time()))
    tampered = body.replace(b'"value": 1', b'"value": 1000')
    r = post(http, tampered, signature=signature)
    assert r.status_code == 401


def test_the_host_is_normalised_like_the_redirect_does(http):
    assert post(http, lead(), host="GO.localhost:8000").status_code == 202


def test_each_domain_has_its_own_secret(http):
    assert post(http, lead(), host="shop.localhost", secret=OTHER_SECRET).status_code == 202
    assert post(http, lead("l-2"), host="shop.localhost", secret=SECRET).status_code == 401


def test_two_signatures_during_a_secret_rotation(http):
    body = body_of(lead())
    t = int(time.time())
    old = sign(body, "the-old-secret", t).split("v1=")[1]
    new = sign(body, SECRET, t).split("v1=")[1]
    assert post(http, body, signature=f"t={t},v1={old},v1={new}").status_code == 202


# --- Size, type, body ----------------------------------------------------------------------------


def test_a_body_over_64_kib_is_refused_with_413_before_anything_else(http):
    big = body_of(lead(client_user_agent="x" * MAX_BODY_BYTES))
    assert post(http, big, secret=None).status_code == 413
    r = post(http, big)
    assert r.status_code == 413 and "65536" in r.json_body["errors"][0]["message"]
    assert stream_events() == []


def test_a_body_of_exactly_64_kib_is_read(http):
    body = body_of(lead())
    padded = body[:-1] + b" " * (MAX_BODY_BYTES - len(body)) + b"}"
    assert len(padded) == MAX_BODY_BYTES
    assert post(http, padded).status_code == 202


def test_a_body_that_is_not_sent_as_json_is_refused_with_415(http):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "", "text/json"):
        r = post(http, lead(), content_type=content_type)
        assert r.status_code == 415, content_type
        assert errors_of(r) == {
            "Content-Type": "send the body as application/json (Content-Type: application/json)"
        }


def test_json_with_a_charset_is_fine(http):
    assert post(http, lead(), content_type="application/json; charset=utf-8").status_code == 202


def test_a_compressed_body_is_refused_with_415(http):
    assert post(http, lead(), **{"Content-Encoding": "gzip"}).status_code == 415


def test_a_bad_body_lists_every_field_error_with_400(http):
    r = post(
        http,
        {
            "event": "",
            "value": -5,
            "currency": "EURO",
            "click_id": "IwAR2xYz",
            "client_ip_address": "300.1.2.3",
            "user": {"email": 7, "age": "40"},
            "email": EMAIL,
        },
    )
    assert r.status_code == 400
    assert list(errors_of(r)) == [
        "click_id",
        "event",
        "event_id",
        "value",
        "currency",
        "client_ip_address",
        "user.email",
        "user.age",
        "email",
    ]
    assert "Jane" not in r.body.decode()  # values are never echoed
    assert stream_events() == []


def test_a_body_that_is_not_a_json_object_is_a_400(http):
    for raw in (b"{", b"", b"null", b'"lead"', b'{"event": NaN}'):
        r = post(http, raw)
        assert r.status_code == 400, raw
        assert list(errors_of(r)) == [None], raw


def test_only_post_is_routed(http):
    r = http.get("/_/conversions", headers={"Host": "go.localhost"})
    assert r.status_code == 405


# --- Idempotency ---------------------------------------------------------------------------------


def test_a_replayed_signed_request_is_a_duplicate_and_queues_nothing_again(http):
    body = body_of(lead(value=10, currency="EUR"))
    signature = sign(body, SECRET, int(time.time()))
    first = post(http, body, signature=signature)
    second = post(http, body, signature=signature)
    assert first.status_code == second.status_code == 202
    assert first.json_body["duplicate"] is False
    assert second.json_body == {**first.json_body, "duplicate": True}
    assert len(stream_events("conversion")) == 1


def test_the_same_event_id_with_another_body_is_still_a_duplicate(http):
    first = post(http, lead("order-9", value=10, currency="EUR"))
    again = post(http, lead("order-9", value=99, currency="EUR"))
    assert again.json_body["duplicate"] is True
    assert again.json_body["conversion_id"] == first.json_body["conversion_id"]
    assert len(stream_events("conversion")) == 1


def test_event_ids_are_per_domain(http):
    a = post(http, lead("same"))
    b = post(http, lead("same"), host="shop.localhost", secret=OTHER_SECRET)
    assert a.json_body["duplicate"] is b.json_body["duplicate"] is False
    assert len(stream_events("conversion")) == 2


def test_the_event_id_marker_expires_with_a_ttl(http):
    post(http, lead("order-ttl"))
    item = client("dynamodb").get_item(
        TableName=Names.from_env().state_table,
        Key={"pk": {"S": marker_key("go.localhost", "order-ttl")}},
    )["Item"]
    ttl = int(item["expires_at"]["N"]) - time.time()
    assert 29 * 86400 < ttl <= 30 * 86400
    assert set(item) == {"pk", "conversion_id", "ts", "status", "attributed", "expires_at"}
    assert item["status"] == {"S": "accepted"}  # confirmed once published


def test_an_expired_marker_not_yet_swept_by_ttl_frees_the_event_id(http):
    client("dynamodb").put_item(
        TableName=Names.from_env().state_table,
        Item={
            "pk": {"S": marker_key("go.localhost", "old")},
            "conversion_id": {"S": "X"},
            "attributed": {"BOOL": False},
            "expires_at": {"N": str(int(time.time()) - 10)},
        },
    )
    assert post(http, lead("old")).json_body["duplicate"] is False


# --- Attribution ---------------------------------------------------------------------------------


def test_an_attributed_conversion_carries_the_original_click_and_only_hashes(http):
    click_id = click(http, query="?fbclid=IwAR2xYz_-AbC&ttclid=E.C.P.v3")
    archive_stream()
    r = post(
        http,
        {
            "click_id": click_id,
            "event": "purchase",
            "event_id": "order-1001",
            "value": 49.9,
            "currency": "EUR",
            "client_ip_address": "198.51.100.23",
            "client_user_agent": CHECKOUT_UA,
            "user": {"email": EMAIL, "phone": PHONE, "last_name": "Doe", "city": "Springfield"},
        },
    )
    assert r.status_code == 202 and r.json_body["attributed"] is True
    (event,) = stream_events("conversion")
    assert event["click"]["click_id"] == click_id
    assert event["click"]["click_ids"] == {"fbclid": "IwAR2xYz_-AbC", "ttclid": "E.C.P.v3"}
    assert event["click"]["user_agent"] == CHROME  # the original click's, from the index
    assert event["click"]["platforms"] == ["meta", "tiktok"]
    assert event["user_agent"] == CHECKOUT_UA and event["ip"] == "198.51.100.23"
    # phone read as US (the domain's default_country): both variants present
    assert set(event["user"]) == {"em", "em_google", "ph_e164", "ph_digits", "ln", "ct"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in event["user"].values())
    record = event["conversion"]
    assert record["attributed"] is True and record["slug"] == "sale"
    assert record["campaign"] == "spring" and record["platforms"] == ["meta", "tiktok"]
    assert record["click_ts"] == event["click"]["ts"]


def test_unknown_or_missing_click_ids_are_accepted_unattributed(http):
    unknown = post(http, lead("a", click_id=new_click_id(), user={"email": EMAIL}))
    missing = post(http, lead("b", user={"email": EMAIL}))
    assert unknown.status_code == missing.status_code == 202
    assert unknown.json_body["attributed"] is missing.json_body["attributed"] is False
    events = stream_events("conversion")
    assert len(events) == 2
    for event in events:
        assert event["click"] is None and event["conversion"]["platforms"] == []
        assert event["user"] == {} and event["ip"] is None  # sent nowhere: nothing travels


def test_a_click_older_than_90_days_is_not_attributed(http):
    old = datetime.now(UTC) - timedelta(days=91)
    click_id = new_click_id(old)
    client("dynamodb").put_item(
        TableName=Names.from_env().click_index_table,
        Item={
            "click_id": {"S": click_id},
            "ts": {"S": old.strftime("%Y-%m-%dT%H:%M:%S.000Z")},
            "domain": {"S": "go.localhost"},
            "platforms": {"L": [{"S": "meta"}]},
            "consent": {"S": "not_required"},
        },
    )
    r = post(http, lead(click_id=click_id))
    assert r.json_body["attributed"] is False


def test_a_conversion_before_its_click_is_accepted_unattributed_and_says_why(http, caplog):
    caplog.set_level(logging.INFO, logger="chalicelib")
    click_id = click(http)
    archive_stream()
    an_hour_ago = int(time.time()) - 3600
    r = post(http, lead("before", click_id=click_id, event_time=an_hour_ago))
    assert r.status_code == 202 and r.json_body["attributed"] is False
    (event,) = stream_events("conversion")
    assert event["click"] is None and event["conversion"]["click_id"] == click_id
    assert "not attributed: the click came after the conversion" in caplog.text
    assert post(http, lead("after", click_id=click_id)).json_body["attributed"] is True


def test_a_click_on_another_domain_is_not_attributed(http):
    click_id = click(http, host="shop.localhost")
    archive_stream()
    assert post(http, lead(click_id=click_id)).json_body["attributed"] is False
    other = post(http, lead("l2", click_id=click_id), host="shop.localhost", secret=OTHER_SECRET)
    assert other.json_body["attributed"] is True


def test_a_click_with_consent_denied_is_attributed_but_sent_nowhere(http):
    click_id = click(http, **{"Sec-GPC": "1"})
    archive_stream()
    r = post(http, lead(click_id=click_id, user={"email": EMAIL}))
    assert r.json_body["attributed"] is True
    (event,) = stream_events("conversion")
    assert event["conversion"]["platforms"] == [] and event["click"]["platforms"] == []
    assert event["click"]["consent"] == "denied"
    assert event["user"] == {} and event["ip"] is None and event["user_agent"] is None


# --- No clear personal data anywhere -------------------------------------------------------------


def test_no_clear_personal_data_is_queued_stored_archived_or_logged(http, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="chalicelib")
    click_id = click(http, query="?gclid=Cj0KCQ")
    archive_stream()
    user = {
        "email": EMAIL,
        "phone": PHONE,
        "last_name": "Doe",
        "city": "Springfield",
        "external_id": "customer-77",
    }
    post(http, lead("p1", click_id=click_id, user=user))
    post(http, lead("p2", user=user))  # unattributed
    post(http, lead("p3", user=user, value="oops"))  # rejected
    post(http, lead("p4", user=user), secret="wrong")  # unauthorized
    archive_stream()  # the conversions reach the lake too

    kept = [r["Data"].decode() for r in stream_records()]
    names = Names.from_env()
    ddb = client("dynamodb")
    for table in ddb.list_tables()["TableNames"]:
        kept += [json.dumps(item) for item in ddb.scan(TableName=table)["Items"]]
    s3 = client("s3")
    bucket = names.lake_bucket_name()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any(k.startswith("conversions/") for k in keys)
    for key in keys:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        kept.append((gzip.decompress(data) if key.endswith(".gz") else data).decode())
    assert "accepted on go.localhost" in caplog.text and "refused" in caplog.text
    kept.append(caplog.text)
    everything = "\n".join(kept)
    for clear in CLEAR:
        assert clear not in everything, clear


# --- Failures ------------------------------------------------------------------------------------


def _broken(exc_code: str):
    def fail(**_):
        raise ClientError({"Error": {"Code": exc_code, "Message": "down"}}, "Op")

    return fail


def test_kinesis_down_the_conversion_goes_to_the_fallback_queue(http, intake, monkeypatch):
    monkeypatch.setattr(intake.publisher.kinesis, "put_record", _broken("ServiceUnavailable"))
    r = post(http, lead("fb-1"))
    assert r.status_code == 202
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=Names.from_env().clicks_fallback_queue)["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["conversion"]["event_id"] == "fb-1"


def test_kinesis_and_sqs_down_is_a_503_and_the_retry_is_not_a_duplicate(http, intake, monkeypatch):
    with monkeypatch.context() as m:  # only these two: the aws fixture's environment stays
        m.setattr(intake.publisher.kinesis, "put_record", _broken("ServiceUnavailable"))
        m.setattr(intake.publisher.sqs, "send_message", _broken("ServiceUnavailable"))
        r = post(http, lead("lost-1"))
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    again = post(http, lead("lost-1"))
    assert again.status_code == 202 and again.json_body["duplicate"] is False


def test_dynamodb_down_is_a_503_never_a_500(http, intake, monkeypatch):
    post(http, lead("warm"))  # the domain is cached now
    monkeypatch.setattr(intake.ddb, "put_item", _broken("ProvisionedThroughputExceeded"))
    r = post(http, lead("ddb-1"))
    assert r.status_code == 503
    assert errors_of(r) == {None: "temporarily unavailable: retry with the same event_id"}


# --- chalice local (the `make run` server) -------------------------------------------------------


def test_the_local_server_delivers_the_exact_bytes_that_were_signed(app_module):
    # Non-ASCII and odd spacing: the signature covers the raw bytes, not a re-encoding.
    body = '{ "event":"lead",\n  "event_id":"lead-1", "user":{"city":"Zürich"} }'.encode()
    with serve(app_module) as port:

        def request(secret: str) -> urllib.request.Request:
            return urllib.request.Request(
                f"http://127.0.0.1:{port}/_/conversions",
                data=body,
                method="POST",
                headers={
                    "Host": f"go.localhost:{port}",
                    "Content-Type": "application/json",
                    "Rebound-Signature": sign(body, secret),
                },
            )

        with urllib.request.urlopen(request(SECRET), timeout=10) as response:
            assert response.status == 202
            assert json.loads(response.read())["duplicate"] is False
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request("wrong"), timeout=10)
        assert refused.value.code == 401


def test_the_postback_keeps_a_domain_as_long_as_the_redirect_does(app_module, monkeypatch):
    monkeypatch.setenv("REBOUND_LINK_CACHE_TTL", "7")
    app_module.redirect_handler.cache_clear()
    app_module.conversion_intake.cache_clear()
    assert (
        app_module.conversion_intake().domains.ttl == app_module.redirect_handler().cache.ttl == 7.0
    )
