from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from chalicelib.platforms.hashing import hash_user
from chalicelib.platforms.http import send_with_retries
from chalicelib.platforms.reddit import PLATFORM as reddit

from .conftest import NOW, make_event, no_sleep, page_view

SECRETS = {"access_token": "rdt-secret"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings(platform, **extra):
    return {"pixel_id": "a2_abc123", "access_token": "ssm:/r", "endpoint": platform.url, **extra}


def test_purchase_reaches_reddit_exactly_as_documented(platform):
    platform.answer(200, {"message": "Successfully processed 1 conversion events."})
    event = make_event(
        click_ids={"rdt_cid": "2930847520398457_AbC"},
        user=hash_user({"email": "Ann@Example.com", "phone": "(650) 253-0000"}, "US"),
        ip="2001:DB8::1",
    )
    requests, rejected = reddit.build_requests(
        [event], settings(platform, test_id="t2_test1"), SECRETS, NOW
    )
    assert rejected == []
    outcome, attempts = send_with_retries(requests[0], reddit.classify, sleep=no_sleep)
    assert outcome.kind == "ok" and attempts == 1

    [got] = platform.received
    assert (got.method, got.path, got.query) == (
        "POST",
        "/api/v3/pixels/a2_abc123/conversion_events",
        {},
    )
    assert got.header("Authorization") == "Bearer rdt-secret"
    assert got.json == {
        "data": {
            "test_id": "t2_test1",
            "events": [
                {
                    "event_at": 1795431600000,  # milliseconds
                    "action_source": "WEBSITE",
                    "event_source_url": "https://go.brand.com/spring-sale",
                    "click_id": "2930847520398457_AbC",
                    "type": {"tracking_type": "PURCHASE"},
                    "metadata": {"conversion_id": "order-1001", "currency": "EUR", "value": 49.0},
                    "user": {
                        "email": sha("ann@example.com"),
                        "phone_number": sha("+16502530000"),  # E.164 with +
                        "ip_address": sha("2001:db8::1"),  # Reddit wants the IP hashed
                        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
                    },
                }
            ],
        }
    }


def test_page_visit_has_no_value_and_custom_kinds_are_named():
    visit = reddit.payload(page_view(value=5, currency="EUR"), {}, NOW)
    assert visit["type"] == {"tracking_type": "PAGE_VISIT"}
    assert visit["metadata"] == {"conversion_id": page_view().event_id}
    lead = reddit.payload(make_event(kind="lead"), {}, NOW)
    assert lead["type"] == {"tracking_type": "LEAD"}
    custom = reddit.payload(make_event(kind="demo_booked"), {}, NOW)
    assert custom["type"] == {"tracking_type": "CUSTOM", "custom_event_name": "demo_booked"}


def test_limited_data_use():
    item = reddit.payload(make_event(consent={"limited_data_use": True}), {}, NOW)
    assert item["user"]["data_processing_options"] == {"modes": ["LDU"]}


def test_time_window_168_hours_back_5_minutes_ahead():
    events = [
        make_event(event_id="old", event_time=NOW - timedelta(hours=169)),
        make_event(event_id="edge", event_time=NOW - timedelta(hours=167)),
        make_event(event_id="soon", event_time=NOW + timedelta(minutes=4)),
        make_event(event_id="later", event_time=NOW + timedelta(minutes=6)),
    ]
    requests, rejected = reddit.build_requests(events, {"pixel_id": "p"}, SECRETS, NOW)
    assert [r.event_id for r in rejected] == ["old", "later"]
    assert requests[0].event_ids == ("edge", "soon")


def test_batches_of_1000():
    events = [make_event(event_id=str(i)) for i in range(1001)]
    requests, _ = reddit.build_requests(events, {"pixel_id": "p"}, SECRETS, NOW)
    assert [len(r.body["data"]["events"]) for r in requests] == [1000, 1]
    assert "test_id" not in requests[0].body["data"]


def test_429_retried_400_not(platform):
    platform.answer(429, {"error": {"code": 429, "message": "Too Many Requests"}}).answer(200, {})
    requests, _ = reddit.build_requests([make_event()], settings(platform), SECRETS, NOW)
    outcome, attempts = send_with_retries(requests[0], reddit.classify, sleep=no_sleep)
    assert (outcome.kind, attempts) == ("ok", 2)
    platform.answer(400, {"error": {"code": 400, "message": "invalid action_source: web"}})
    outcome, attempts = send_with_retries(requests[0], reddit.classify, sleep=no_sleep)
    assert (outcome.kind, attempts) == ("permanent", 1)
    assert "invalid action_source" in outcome.reason
    assert len(platform.received) == 3


def test_classify_documented_answers():
    assert reddit.classify(200, b"{}").kind == "ok"
    assert reddit.classify(401, json.dumps({"error": {"code": 401}}).encode()).kind == "permanent"
    assert reddit.classify(500, b"").kind == "retry"
