from __future__ import annotations

import hashlib
from datetime import timedelta

from chalicelib.platforms.hashing import hash_user
from chalicelib.platforms.http import send_with_retries
from chalicelib.platforms.snapchat import PLATFORM as snapchat

from .conftest import NOW, make_event, no_sleep, page_view

SECRETS = {"access_token": "snap-secret"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings(platform):
    return {"pixel_id": "a1b2-c3d4", "access_token": "ssm:/snap", "endpoint": platform.url}


def test_purchase_reaches_snap_exactly_as_documented(platform):
    platform.answer(200, {"status": "OK", "reason": "All events processed"})
    event = make_event(
        value=10,
        currency="USD",
        click_ids={"ScCid": "8a5e2c1f-ScCid_Case"},
        user=hash_user({"email": "ann@example.com", "phone": "+44 844 412 4653"}, None),
    )
    requests, rejected = snapchat.build_requests([event], settings(platform), SECRETS, NOW)
    assert rejected == []
    outcome, attempts = send_with_retries(requests[0], snapchat.classify, sleep=no_sleep)
    assert outcome.kind == "ok" and attempts == 1

    [got] = platform.received
    assert (got.method, got.path) == ("POST", "/v3/a1b2-c3d4/events")
    assert got.query == {"access_token": ["snap-secret"]}
    [item] = got.json["data"]
    assert item == {
        "event_name": "PURCHASE",
        "event_time": 1795431600,  # seconds
        "event_id": "order-1001",  # the pixel's client_dedup_id
        "action_source": "WEB",
        "event_source_url": "https://go.brand.com/spring-sale",
        "user_data": {
            "em": [sha("ann@example.com")],
            "ph": [sha("448444124653")],  # Snap's documented example, digits only
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
            "sc_click_id": "8a5e2c1f-ScCid_Case",
        },
        "custom_data": {"currency": "USD", "value": "10"},
    }


def test_event_names_per_kind():
    assert snapchat.payload(page_view(), {}, NOW)["event_name"] == "PAGE_VIEW"
    assert snapchat.payload(make_event(kind="lead"), {}, NOW)["event_name"] == "SIGN_UP"
    assert snapchat.payload(make_event(kind="quote"), {}, NOW)["event_name"] == "CUSTOM_EVENT_1"


def test_page_view_has_visitor_external_id_and_no_custom_data():
    item = snapchat.payload(page_view(), {}, NOW)
    assert item["user_data"]["external_id"] == [sha("v-4f1c2a")]
    assert "custom_data" not in item


def test_batches_of_2000_and_age_limit():
    events = [make_event(event_id=str(i)) for i in range(2001)]
    old = make_event(event_id="old", event_time=NOW - timedelta(days=38))
    requests, rejected = snapchat.build_requests([old, *events], {"pixel_id": "p"}, SECRETS, NOW)
    assert [r.event_id for r in rejected] == ["old"]
    assert [len(r.body["data"]) for r in requests] == [2000, 1]


def test_server_error_retried_unauthorised_not(platform):
    platform.answer(500, {"status": "FAILED"}).answer(200, {"status": "OK"})
    requests, _ = snapchat.build_requests([make_event()], settings(platform), SECRETS, NOW)
    outcome, attempts = send_with_retries(requests[0], snapchat.classify, sleep=no_sleep)
    assert outcome.kind == "ok" and attempts == 2

    platform.answer(401, {"status": "FAILED", "reason": "Unauthorized access token"})
    outcome, attempts = send_with_retries(requests[0], snapchat.classify, sleep=no_sleep)
    assert outcome.kind == "permanent" and attempts == 1
    assert len(platform.received) == 3
    assert "snap-secret" not in outcome.reason
