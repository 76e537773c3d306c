from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from chalicelib.platforms.hashing import hash_user
from chalicelib.platforms.http import send_with_retries
from chalicelib.platforms.pinterest import PLATFORM as pinterest

from .conftest import NOW, make_event, no_sleep, page_view

SECRETS = {"access_token": "pina_secret"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings(platform, **extra):
    return {
        "ad_account_id": "549755885175",
        "access_token": "ssm:/pin",
        "endpoint": platform.url,
        **extra,
    }


def test_lead_reaches_pinterest_exactly_as_documented(platform):
    platform.answer(
        200,
        {
            "num_events_received": 1,
            "num_events_processed": 1,
            "events": [{"status": "processed", "error_message": "", "warning_message": ""}],
        },
    )
    event = make_event(
        kind="lead",
        value=49,
        currency="USD",
        click_ids={"epik": "dj0yJnU9AbC-_"},
        user=hash_user({"email": "Ann@Example.com", "phone": "+1 (650) 253-0000"}, None),
    )
    requests, rejected = pinterest.build_requests(
        [event], settings(platform, test=True), SECRETS, NOW
    )
    assert rejected == []
    outcome, attempts = send_with_retries(requests[0], pinterest.classify, sleep=no_sleep)
    assert outcome.kind == "ok" and attempts == 1

    [got] = platform.received
    assert (got.method, got.path) == ("POST", "/v5/ad_accounts/549755885175/events")
    assert got.query == {"test": ["true"]}
    assert got.header("Authorization") == "Bearer pina_secret"
    assert got.json == {
        "data": [
            {
                "event_name": "lead",
                "action_source": "web",
                "event_time": 1795431600,  # seconds
                "event_id": "order-1001",
                "event_source_url": "https://go.brand.com/spring-sale",
                "user_data": {
                    "em": [sha("ann@example.com")],
                    "ph": [sha("16502530000")],  # digits, country code, no +
                    "client_ip_address": "203.0.113.7",
                    "client_user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
                    "click_id": "dj0yJnU9AbC-_",
                },
                "custom_data": {"currency": "USD", "value": "49"},  # value is a string
            }
        ]
    }


def test_no_test_parameter_by_default():
    requests, _ = pinterest.build_requests([make_event()], {"ad_account_id": "1"}, SECRETS, NOW)
    assert requests[0].url.endswith("/v5/ad_accounts/1/events")


def test_event_names_per_kind():
    assert pinterest.payload(page_view(), {}, NOW)["event_name"] == "page_visit"
    assert pinterest.payload(make_event(kind="purchase"), {}, NOW)["event_name"] == "checkout"
    assert pinterest.payload(make_event(kind="webinar"), {}, NOW)["event_name"] == "custom"


def test_needs_email_or_ip_and_user_agent():
    no_ids = make_event(event_id="none", ip=None, user={})
    ua_only = make_event(event_id="ua", ip=None, user={"ph_digits": sha("1")})
    with_email = make_event(event_id="em", ip=None, user_agent=None, user={"em": sha("a@b.co")})
    ip_ua = make_event(event_id="ipua")
    requests, rejected = pinterest.build_requests(
        [no_ids, ua_only, with_email, ip_ua], {"ad_account_id": "1"}, SECRETS, NOW
    )
    assert [r.event_id for r in rejected] == ["none", "ua"]
    assert requests[0].event_ids == ("em", "ipua")


def test_opt_out_when_personalisation_denied_or_ldu():
    assert pinterest.payload(make_event(consent={"limited_data_use": True}), {}, NOW)["opt_out"]
    assert pinterest.payload(make_event(consent={"ad_personalization": False}), {}, NOW)["opt_out"]
    assert "opt_out" not in pinterest.payload(make_event(), {}, NOW)


def test_too_old_rejected_and_batches_of_1000():
    events = [make_event(event_id=str(i)) for i in range(1001)]
    old = make_event(event_id="old", event_time=NOW - timedelta(days=8))
    requests, rejected = pinterest.build_requests(
        [old, *events], {"ad_account_id": "1"}, SECRETS, NOW
    )
    assert [r.event_id for r in rejected] == ["old"]
    assert [len(r.body["data"]) for r in requests] == [1000, 1]


def test_rate_limit_retried_then_success(platform):
    platform.answer(429, {"code": 8, "message": "Rate limit exceeded"}).answer(200, {"events": []})
    requests, _ = pinterest.build_requests([make_event()], settings(platform), SECRETS, NOW)
    outcome, attempts = send_with_retries(requests[0], pinterest.classify, sleep=no_sleep)
    assert outcome.kind == "ok" and attempts == 2 and len(platform.received) == 2


def test_classify_documented_answers():
    def c(status, payload):
        return pinterest.classify(status, json.dumps(payload).encode())

    partial = c(
        200,
        {
            "num_events_received": 2,
            "num_events_processed": 1,
            "events": [
                {"status": "processed"},
                {"status": "failed", "error_message": "event_time too old"},
            ],
        },
    )
    assert partial.kind == "ok" and partial.partial and "event_time too old" in partial.reason
    assert c(400, {"code": 1, "message": "Invalid parameters"}).kind == "permanent"
    assert c(401, {"code": 2, "message": "Authentication failed"}).kind == "permanent"
    assert c(403, {"code": 29, "message": "no access"}).kind == "permanent"
    assert c(429, {"code": 8}).kind == "retry"
    assert c(503, {}).kind == "retry"
