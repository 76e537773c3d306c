from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from chalicelib.platforms.hashing import hash_user
from chalicelib.platforms.http import send_with_retries
from chalicelib.platforms.linkedin import DEFAULT_VERSION
from chalicelib.platforms.linkedin import PLATFORM as linkedin

from .conftest import NOW, make_event, no_sleep, page_view

SECRETS = {"access_token": "li-secret-token"}
RULE = "urn:lla:llaPartnerConversion:104012"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings(platform):
    return {"conversion_rule": RULE, "access_token": "secretsmanager:li", "endpoint": platform.url}


def test_conversion_reaches_linkedin_exactly_as_documented(platform):
    platform.answer(200, {"elements": [{"status": 201}]})
    event = make_event(
        click_ids={"li_fat_id": "5b0e8f3c-7a1d-4b2e-9f00-AbCdEf123456"},
        user=hash_user({"email": "Ann@Example.com", "first_name": "Ann"}, None),
    )
    requests, rejected = linkedin.build_requests([event], settings(platform), SECRETS, NOW)
    assert rejected == []
    outcome, attempts = send_with_retries(requests[0], linkedin.classify, sleep=no_sleep)
    assert outcome.kind == "ok" and not outcome.partial and attempts == 1

    [got] = platform.received
    assert (got.method, got.path, got.query) == ("POST", "/rest/conversionEvents", {})
    assert got.header("Authorization") == "Bearer li-secret-token"
    assert got.header("LinkedIn-Version") == DEFAULT_VERSION
    assert got.header("X-Restli-Protocol-Version") == "2.0.0"
    assert got.header("X-RestLi-Method") == "BATCH_CREATE"
    assert got.json == {
        "elements": [
            {
                "conversion": RULE,
                "conversionHappenedAt": 1795431600000,  # milliseconds
                "eventId": "order-1001",
                "user": {
                    "userIds": [
                        {"idType": "SHA256_EMAIL", "idValue": sha("ann@example.com")},
                        {
                            "idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID",
                            "idValue": "5b0e8f3c-7a1d-4b2e-9f00-AbCdEf123456",
                        },
                    ]
                },
                "conversionValue": {"currencyCode": "EUR", "amount": "49.0"},
            }
        ]
    }


def test_version_header_is_configurable():
    requests, _ = linkedin.build_requests(
        [make_event(user={"em": sha("a@b.co")})],
        {"conversion_rule": "104012", "version": "202607"},
        SECRETS,
        NOW,
    )
    assert requests[0].headers["LinkedIn-Version"] == "202607"
    assert requests[0].body["elements"][0]["conversion"] == RULE  # a bare id becomes the URN


def test_click_without_li_fat_id_is_not_for_linkedin():
    requests, rejected = linkedin.build_requests(
        [page_view(), page_view(event_id="c2", click_ids={"li_fat_id": "x-1"})],
        {"conversion_rule": RULE},
        SECRETS,
        NOW,
    )
    assert rejected[0].not_applicable and rejected[0].event_id == page_view().event_id
    assert requests[0].event_ids == ("c2",)


def test_conversion_without_user_ids_is_rejected():
    _, rejected = linkedin.build_requests(
        [make_event(user={"ph_e164": sha("+16502530000")})], {"conversion_rule": RULE}, SECRETS, NOW
    )
    assert not rejected[0].not_applicable
    assert "userIds" in rejected[0].reason


def test_events_older_than_90_days_rejected():
    old = make_event(event_id="old", event_time=NOW - timedelta(days=91), user={"em": sha("a")})
    ok = make_event(event_id="ok", event_time=NOW - timedelta(days=89), user={"em": sha("a")})
    requests, rejected = linkedin.build_requests([old, ok], {"conversion_rule": RULE}, SECRETS, NOW)
    assert [r.event_id for r in rejected] == ["old"]
    assert requests[0].event_ids == ("ok",)


def test_5001_events_make_two_requests():
    events = [make_event(event_id=str(i), user={"em": sha("a")}) for i in range(5001)]
    requests, _ = linkedin.build_requests(events, {"conversion_rule": RULE}, SECRETS, NOW)
    assert [len(r.body["elements"]) for r in requests] == [5000, 1]


def test_server_error_retried_then_success(platform):
    platform.answer(503, {"status": 503, "message": "Service Unavailable"}).answer(
        200, {"elements": [{"status": 201}]}
    )
    requests, _ = linkedin.build_requests(
        [make_event(user={"em": sha("a")})], settings(platform), SECRETS, NOW
    )
    outcome, attempts = send_with_retries(requests[0], linkedin.classify, sleep=no_sleep)
    assert outcome.kind == "ok" and attempts == 2 and len(platform.received) == 2


def test_classify_documented_answers():
    def c(status, payload):
        return linkedin.classify(status, json.dumps(payload).encode())

    assert c(201, {}).kind == "ok"
    partial = c(200, {"elements": [{"status": 201}, {"status": 400, "message": "bad eventId"}]})
    assert partial.kind == "ok" and partial.partial and "1 of 2" in partial.reason
    assert c(422, {"status": 422, "message": "userIds is required"}).kind == "permanent"
    assert c(401, {"status": 401, "serviceErrorCode": 65600, "message": "Invalid token"}).kind == (
        "permanent"
    )
    assert c(426, {"status": 426, "message": "Requested version 202301 is not active"}).kind == (
        "permanent"
    )
    assert c(429, {"status": 429}).kind == "retry"
    assert c(500, {"status": 500}).kind == "retry"
