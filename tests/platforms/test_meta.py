from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from chalicelib.platforms.hashing import hash_user
from chalicelib.platforms.http import send_with_retries
from chalicelib.platforms.meta import PLATFORM as meta
from chalicelib.platforms.meta import fbc as meta_fbc

from .conftest import NOW, make_event, no_sleep, page_view

SECRETS = {"access_token": "EAAB-secret-token"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings(platform, **extra):
    return {
        "pixel_id": "1234567890",
        "access_token": "ssm:/rebound/dev/meta-token",
        "endpoint": platform.url,
        **extra,
    }


def send_all(requests, **kw):
    return [send_with_retries(r, meta.classify, sleep=no_sleep, **kw) for r in requests]


def test_purchase_reaches_meta_exactly_as_documented(platform):
    platform.answer(200, {"events_received": 1, "messages": [], "fbtrace_id": "A1"})
    event = make_event(
        click_ids={"fbclid": "IwAR2xYz_AbC-123", "gclid": "ignored-here"},
        user=hash_user(
            {
                "email": " John.Doe+ads@Gmail.com ",
                "phone": "+44 844 412 4653",
                "first_name": "José",
                "last_name": "O'Neil",
                "city": "San Francisco",
                "state": "California",
                "zip": "94043-1351",
                "country": "US",
                "external_id": "cust-42",
            },
            None,
        ),
    )
    requests, rejected = meta.build_requests(
        [event], settings(platform, test_event_code="TEST123"), SECRETS, NOW
    )
    assert rejected == []
    [(outcome, attempts)] = send_all(requests)
    assert outcome.kind == "ok" and attempts == 1

    [got] = platform.received
    assert got.method == "POST"
    assert got.path == "/v26.0/1234567890/events"
    assert got.query == {"access_token": ["EAAB-secret-token"]}
    assert got.header("Content-Type") == "application/json"
    body = got.json
    assert body["test_event_code"] == "TEST123"
    [item] = body["data"]
    assert item["event_name"] == "Purchase"
    assert item["event_time"] == 1795431600  # 2026-11-23T11:00:00Z in seconds
    assert item["event_id"] == "order-1001"
    assert item["action_source"] == "website"
    assert item["event_source_url"] == "https://go.brand.com/spring-sale"
    assert item["custom_data"] == {"currency": "EUR", "value": 49.0}
    assert "data_processing_options" not in item
    user = item["user_data"]
    assert user["em"] == [sha("john.doe+ads@gmail.com")]  # Meta: no gmail rule
    assert user["ph"] == [sha("448444124653")]  # digits with country code, no +
    assert user["fn"] == [sha("josé")]
    assert user["ln"] == [sha("oneil")]
    assert user["ct"] == [sha("sanfrancisco")]
    assert user["st"] == [sha("ca")]
    assert user["zp"] == [sha("94043")]
    assert user["country"] == [sha("us")]
    assert user["external_id"] == [sha("cust-42")]
    assert user["client_ip_address"] == "203.0.113.7"  # never hashed
    assert user["client_user_agent"].startswith("Mozilla/5.0")
    # fbc from the click's time in ms (2026-11-20T09:30:15.123Z), fbclid byte-for-byte.
    assert user["fbc"] == "fb.1.1795167015123.IwAR2xYz_AbC-123"


def test_fbc_is_never_built_from_now_or_the_conversion_time():
    event = make_event(click_ids={"fbclid": "AbC"})
    fbc = meta_fbc(event, NOW)
    assert fbc == f"fb.1.{1795167015123}.AbC"
    assert str(int(NOW.timestamp() * 1000)) not in fbc
    # A click event's own time is the click time.
    click = page_view(click_ids={"fbclid": "AbC"})
    assert meta_fbc(click, NOW) == "fb.1.1795435140000.AbC"
    # A conversion with no known click time gets no fbc at all.
    assert meta_fbc(make_event(click_time=None, click_ids={"fbclid": "AbC"}), NOW) is None


def test_fbc_dropped_for_clicks_older_than_90_days():
    old = make_event(click_time=NOW - timedelta(days=91), click_ids={"fbclid": "AbC"})
    item = meta.payload(old, {}, NOW)
    assert "fbc" not in item["user_data"]
    recent = make_event(click_time=NOW - timedelta(days=89), click_ids={"fbclid": "AbC"})
    assert meta.payload(recent, {}, NOW)["user_data"]["fbc"].endswith(".AbC")


def test_page_view_name_default_and_from_config():
    click = page_view()
    assert meta.payload(click, {}, NOW)["event_name"] == "PageView"
    assert meta.payload(click, {"page_view_event": "LinkClick"}, NOW)["event_name"] == "LinkClick"
    assert meta.payload(make_event(kind="lead"), {}, NOW)["event_name"] == "Lead"
    assert meta.payload(make_event(kind="trial_started"), {}, NOW)["event_name"] == "trial_started"


def test_page_view_carries_visitor_id_as_external_id_and_no_custom_data():
    item = meta.payload(page_view(visitor_id="v-4f1c2a"), {}, NOW)
    assert item["user_data"]["external_id"] == [sha("v-4f1c2a")]
    assert "custom_data" not in item


def test_an_engagement_tiers_event_names_its_audience_in_custom_data():
    item = meta.payload(page_view(event_id="c1:hot-pricing", audience="hot-pricing"), {}, NOW)
    assert item["custom_data"] == {"rebound_audience": "hot-pricing"}
    assert item["event_id"] == "c1:hot-pricing"


def test_limited_data_use_sets_ldu_with_country_and_state_zero():
    event = make_event(consent={"limited_data_use": True})
    item = meta.payload(event, {}, NOW)
    assert item["data_processing_options"] == ["LDU"]
    assert item["data_processing_options_country"] == 0
    assert item["data_processing_options_state"] == 0


def test_1001_events_make_two_requests(platform):
    events = [make_event(event_id=f"order-{i}") for i in range(1001)]
    requests, rejected = meta.build_requests(events, settings(platform), SECRETS, NOW)
    assert rejected == [] and len(requests) == 2
    send_all(requests)
    assert [len(r.json["data"]) for r in platform.received] == [1000, 1]
    assert requests[1].event_ids == ("order-1000",)


def test_too_old_event_is_rejected_without_sinking_the_batch(platform):
    old = make_event(event_id="old", event_time=NOW - timedelta(days=7, seconds=1))
    fine = make_event(event_id="fine", event_time=NOW - timedelta(days=6, hours=23))
    requests, rejected = meta.build_requests([old, fine], settings(platform), SECRETS, NOW)
    assert [(r.event_id, r.reason) for r in rejected] == [
        ("old", "event_time is older than 7 days")
    ]
    send_all(requests)
    [got] = platform.received
    assert [e["event_id"] for e in got.json["data"]] == ["fine"]


def test_future_events_rejected_small_clock_skew_tolerated():
    ahead = make_event(event_id="ahead", event_time=NOW + timedelta(minutes=5))
    skew = make_event(event_id="skew", event_time=NOW + timedelta(seconds=30))
    requests, rejected = meta.build_requests([ahead, skew], {"pixel_id": "1"}, SECRETS, NOW)
    assert [r.event_id for r in rejected] == ["ahead"]
    assert requests[0].body["data"][0]["event_time"] == int(NOW.timestamp())


def test_website_event_without_user_agent_or_url_is_rejected():
    _, rejected = meta.build_requests(
        [make_event(event_id="a", user_agent=None), make_event(event_id="b", source_url=None)],
        {"pixel_id": "1"},
        SECRETS,
        NOW,
    )
    assert [r.event_id for r in rejected] == ["a", "b"]
    assert "user agent" in rejected[0].reason


def test_purchase_without_value_is_rejected():
    _, rejected = meta.build_requests([make_event(value=None)], {"pixel_id": "1"}, SECRETS, NOW)
    assert rejected[0].reason == "a Purchase needs value and currency"


def test_transient_error_retried_then_success(platform):
    platform.answer(
        400,
        {
            "error": {
                "message": "An unexpected error has occurred. Please retry your request later.",
                "type": "OAuthException",
                "is_transient": True,
                "code": 2,
                "fbtrace_id": "AbC",
            }
        },
    ).answer(200, {"events_received": 1})
    requests, _ = meta.build_requests([make_event()], settings(platform), SECRETS, NOW)
    [(outcome, attempts)] = send_all(requests)
    assert outcome.kind == "ok" and attempts == 2 and len(platform.received) == 2


def test_invalid_token_is_not_retried(platform):
    platform.answer(
        400,
        {"error": {"message": "Invalid OAuth access token.", "code": 190, "fbtrace_id": "x"}},
    )
    requests, _ = meta.build_requests([make_event()], settings(platform), SECRETS, NOW)
    [(outcome, attempts)] = send_all(requests)
    assert outcome.kind == "permanent" and attempts == 1 and len(platform.received) == 1
    assert "190" in outcome.reason and "EAAB" not in outcome.reason


def err(code, sub=None, transient=None, status=400):
    error = {"message": "msg", "type": "OAuthException", "code": code, "fbtrace_id": "t"}
    if sub:
        error["error_subcode"] = sub
    if transient is not None:
        error["is_transient"] = transient
    return status, json.dumps({"error": error}).encode()


def test_classify_documented_errors():
    for code in (1, 2, 4, 17, 341, 368):
        assert meta.classify(*err(code)).kind == "retry", code
    for code in (100, 190, 200, 294):
        assert meta.classify(*err(code)).kind == "permanent", code
    too_old = meta.classify(*err(100, 2804003, transient=False))
    assert too_old.kind == "permanent" and "too old" in too_old.reason
    assert meta.classify(*err(9999, transient=True)).kind == "retry"
    assert meta.classify(*err(9999, transient=False)).kind == "permanent"
    assert meta.classify(*err(9999, status=503)).kind == "retry"
    assert meta.classify(200, b'{"events_received": 3}').kind == "ok"
    assert meta.classify(429, b"").kind == "retry"
    assert meta.classify(502, b"<html>bad gateway</html>").kind == "retry"
    assert meta.classify(404, b"").kind == "permanent"


def test_missing_config_rejects_everything_naming_fields_not_values():
    requests, rejected = meta.build_requests([make_event()], {"pixel_id": "1"}, {}, NOW)
    assert requests == []
    assert rejected[0].reason == "meta is not configured: missing access_token (secret)"
