from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from chalicelib.platforms.hashing import hash_user
from chalicelib.platforms.http import send_with_retries
from chalicelib.platforms.tiktok import PLATFORM as tiktok

from .conftest import NOW, make_event, no_sleep, page_view

SECRETS = {"access_token": "tt-secret-token"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings(platform, **extra):
    return {"pixel_code": "C0DE123", "access_token": "ssm:/tt", "endpoint": platform.url, **extra}


def body(code, message="OK"):
    return {"code": code, "message": message, "request_id": "2026112312000001", "data": {}}


def test_purchase_reaches_tiktok_exactly_as_documented(platform):
    platform.answer(200, body(0))
    event = make_event(
        click_ids={"ttclid": "E.C.P.CqQBAbCdEf-_x", "ttp": "2Xyz_ttp"},
        user=hash_user(
            {"email": "John.Doe+ads@gmail.com", "phone": "0151 23456789", "external_id": "c-9"},
            "DE",
        ),
        consent={"limited_data_use": True},
    )
    requests, rejected = tiktok.build_requests(
        [event], settings(platform, test_event_code="TEST42"), SECRETS, NOW
    )
    assert rejected == []
    [(outcome, attempts)] = [
        send_with_retries(r, tiktok.classify, sleep=no_sleep) for r in requests
    ]
    assert outcome.kind == "ok" and attempts == 1

    [got] = platform.received
    assert (got.method, got.path, got.query) == ("POST", "/open_api/v1.3/event/track/", {})
    assert got.header("Access-Token") == "tt-secret-token"
    assert got.header("Content-Type") == "application/json"
    sent = got.json
    assert sent["event_source"] == "web"
    assert sent["event_source_id"] == "C0DE123"
    assert sent["test_event_code"] == "TEST42"
    [item] = sent["data"]
    assert item["event"] == "Purchase"
    assert item["event_time"] == 1795431600  # seconds
    assert item["event_id"] == "order-1001"
    assert item["user"] == {
        "email": sha("john.doe+ads@gmail.com"),
        "phone": sha("+4915123456789"),  # E.164 with +
        "external_id": sha("c-9"),
        "ttclid": "E.C.P.CqQBAbCdEf-_x",  # byte-for-byte, never hashed
        "ttp": "2Xyz_ttp",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
    }
    assert item["page"] == {"url": "https://go.brand.com/spring-sale"}
    assert item["properties"] == {"currency": "EUR", "value": 49.0}
    assert item["limited_data_use"] is True


def test_event_names_per_kind():
    assert tiktok.payload(page_view(), {}, NOW)["event"] == "ViewContent"
    assert tiktok.payload(make_event(kind="lead"), {}, NOW)["event"] == "Lead"
    assert tiktok.payload(make_event(kind="demo_booked"), {}, NOW)["event"] == "demo_booked"
    assert tiktok.payload(page_view(), {}, NOW)["limited_data_use"] is False


def test_rate_limit_code_in_a_200_is_retried(platform):
    platform.answer(200, body(40100, "Too many requests")).answer(200, body(0))
    requests, _ = tiktok.build_requests([make_event()], settings(platform), SECRETS, NOW)
    outcome, attempts = send_with_retries(requests[0], tiktok.classify, sleep=no_sleep)
    assert outcome.kind == "ok" and attempts == 2 and len(platform.received) == 2


def test_permanent_code_is_not_retried(platform):
    platform.answer(200, body(40001, "Invalid parameter: pixel_code"))
    requests, _ = tiktok.build_requests([make_event()], settings(platform), SECRETS, NOW)
    outcome, attempts = send_with_retries(requests[0], tiktok.classify, sleep=no_sleep)
    assert outcome.kind == "permanent" and attempts == 1 and len(platform.received) == 1


def test_classify_documented_answers():
    def c(status, payload):
        return tiktok.classify(status, json.dumps(payload).encode())

    assert c(200, body(0)).kind == "ok"
    partial = c(200, body(20001, "Partial Success: event_time invalid"))
    assert partial.kind == "ok" and partial.partial and "20001" in partial.reason
    assert c(200, body(40100)).kind == "retry"
    assert c(200, body(40001)).kind == "permanent"
    assert c(200, body(40002)).kind == "permanent"
    assert c(200, body(50000)).kind == "retry"
    assert c(429, {}).kind == "retry"
    assert c(503, {}).kind == "retry"
    assert c(401, {}).kind == "permanent"


def test_1001_events_make_two_requests():
    events = [make_event(event_id=str(i)) for i in range(1001)]
    requests, _ = tiktok.build_requests(events, {"pixel_code": "C"}, SECRETS, NOW)
    assert [len(r.body["data"]) for r in requests] == [1000, 1]


def test_too_old_event_rejected_others_sent():
    old = make_event(event_id="old", event_time=NOW - timedelta(days=8))
    requests, rejected = tiktok.build_requests(
        [old, make_event(event_id="ok")], {"pixel_code": "C"}, SECRETS, NOW
    )
    assert [r.event_id for r in rejected] == ["old"]
    assert requests[0].event_ids == ("ok",)
