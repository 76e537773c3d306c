from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from chalicelib.platforms.google import PLATFORM as google
from chalicelib.platforms.hashing import hash_user
from chalicelib.platforms.http import send_with_retries

from .conftest import NOW, make_event, no_sleep, page_view

SECRETS = {"ga4_api_secret": "ga4-secret", "oauth_token": "ya29.oauth-secret"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings(platform, **extra):
    return {
        "ga4_measurement_id": "G-ABC123XYZ",
        "ga4_api_secret": "ssm:/ga4",
        "ads_account_id": "123-456-7890",
        "ads_conversion_action": "987654",
        "oauth_token": "ssm:/oauth",
        "endpoint": platform.url,
        **extra,
    }


def send_all(requests):
    return [send_with_retries(r, google.classify, sleep=no_sleep) for r in requests]


def test_conversions_reach_data_manager_exactly_as_documented(platform):
    platform.answer(200, {"requestId": "req-1"})
    gmail = make_event(
        event_id="order-1",
        click_ids={"gclid": "Cj0KCQiA-AbC_xyz", "gbraid": "not-used"},
        user=hash_user({"email": "John.Doe+ads@gmail.com", "phone": "+1 650-253-0000"}, None),
        consent={"ad_user_data": True, "ad_personalization": False},
    )
    other = make_event(
        event_id="order-2",
        kind="lead",
        value=None,
        currency=None,
        ip=None,
        user_agent=None,
        click_ids={"wbraid": "WbR-1"},
        user=hash_user({"email": "John.Doe+ads@example.com"}, None),
    )
    requests, rejected = google.build_requests([gmail, other], settings(platform), SECRETS, NOW)
    assert rejected == []
    [(outcome, attempts)] = send_all(requests)
    assert outcome.kind == "ok" and attempts == 1

    [got] = platform.received
    assert (got.method, got.path, got.query) == ("POST", "/v1/events:ingest", {})
    assert got.header("Authorization") == "Bearer ya29.oauth-secret"
    assert got.json == {
        "destinations": [
            {
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
                "productDestinationId": "987654",
            }
        ],
        "encoding": "HEX",
        "events": [
            {
                "eventTimestamp": "2026-11-23T11:00:00Z",  # RFC 3339
                "transactionId": "order-1",
                "eventSource": "WEB",
                "adIdentifiers": {
                    "gclid": "Cj0KCQiA-AbC_xyz",  # byte-for-byte, one id only
                    "landingPageDeviceInfo": {
                        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
                    },
                },
                "eventDeviceInfo": {"ipAddress": "203.0.113.7"},
                "userData": {
                    "userIdentifiers": [
                        {"emailAddress": sha("johndoe@gmail.com")},  # gmail rule
                        {"phoneNumber": sha("+16502530000")},  # E.164 with +
                    ]
                },
                "conversionValue": 49.0,
                "currency": "EUR",
                "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_DENIED"},
            },
            {
                "eventTimestamp": "2026-11-23T11:00:00Z",
                "transactionId": "order-2",
                "eventSource": "WEB",
                "adIdentifiers": {"wbraid": "WbR-1"},
                "userData": {
                    "userIdentifiers": [{"emailAddress": sha("john.doe+ads@example.com")}]
                },
                "consent": {
                    "adUserData": "CONSENT_GRANTED",
                    "adPersonalization": "CONSENT_GRANTED",
                },
            },
        ],
    }


def test_validate_only_for_tests():
    requests, _ = google.build_requests(
        [make_event(click_ids={"gclid": "g"})],
        {"ads_account_id": "1", "ads_conversion_action": "2", "validate_only": True},
        SECRETS,
        NOW,
    )
    assert requests[0].body["validateOnly"] is True


def test_click_reaches_ga4_measurement_protocol(platform):
    platform.answer(204, b"")
    click = page_view(consent={"ad_user_data": False, "ad_personalization": True})
    requests, rejected = google.build_requests([click], settings(platform), SECRETS, NOW)
    assert rejected == []
    [(outcome, _)] = send_all(requests)
    assert outcome.kind == "ok"

    [got] = platform.received
    assert (got.method, got.path) == ("POST", "/mp/collect")
    assert got.query == {"measurement_id": ["G-ABC123XYZ"], "api_secret": ["ga4-secret"]}
    assert "authorization" not in got.headers
    assert got.json == {
        "client_id": "v-4f1c2a",
        "timestamp_micros": 1795435140000000,  # microseconds
        "consent": {"ad_user_data": "DENIED", "ad_personalization": "GRANTED"},
        "events": [
            {
                "name": "page_view",
                "timestamp_micros": 1795435140000000,
                "params": {"page_location": "https://go.brand.com/spring-sale"},
            }
        ],
    }


def test_ga4_debug_endpoint_only_when_asked():
    plain, _ = google.build_requests([page_view()], {"ga4_measurement_id": "G-1"}, SECRETS, NOW)
    assert "/mp/collect?" in plain[0].url and "/debug/" not in plain[0].url
    debug, _ = google.build_requests(
        [page_view()], {"ga4_measurement_id": "G-1", "validate_only": True}, SECRETS, NOW
    )
    assert "/debug/mp/collect?" in debug[0].url


def test_an_engagement_tiers_event_names_its_audience_in_a_ga4_param():
    tier = page_view(event_id="c1:hot-pricing", audience="hot-pricing")
    requests, _ = google.build_requests([tier], {"ga4_measurement_id": "G-1"}, SECRETS, NOW)
    assert requests[0].body["events"][0]["params"]["rebound_audience"] == "hot-pricing"
    plain, _ = google.build_requests([page_view()], {"ga4_measurement_id": "G-1"}, SECRETS, NOW)
    assert "rebound_audience" not in plain[0].body["events"][0]["params"]


def test_ga4_groups_by_visitor_and_batches_of_25():
    same = [page_view(event_id=f"c{i}", visitor_id="v1") for i in range(26)]
    other = page_view(event_id="x", visitor_id="v2")
    requests, _ = google.build_requests([*same, other], {"ga4_measurement_id": "G-1"}, SECRETS, NOW)
    assert [(r.body["client_id"], len(r.body["events"])) for r in requests] == [
        ("v1", 25),
        ("v1", 1),
        ("v2", 1),
    ]


def test_ga4_rejects_older_than_72_hours_and_no_client_id():
    old = page_view(event_id="old", event_time=NOW - timedelta(hours=73))
    anon = page_view(event_id="anon", visitor_id=None)
    _, rejected = google.build_requests([old, anon], {"ga4_measurement_id": "G-1"}, SECRETS, NOW)
    assert [(r.event_id, r.not_applicable) for r in rejected] == [("old", False), ("anon", False)]
    assert rejected[0].reason == "event_time is older than 72 hours"


def test_each_half_applies_only_where_configured():
    ga4_only = {"ga4_measurement_id": "G-1"}
    requests, rejected = google.build_requests([page_view(), make_event()], ga4_only, SECRETS, NOW)
    assert len(requests) == 1 and rejected[0].not_applicable
    ads_only = {"ads_account_id": "1", "ads_conversion_action": "2"}
    requests, rejected = google.build_requests(
        [page_view(), make_event(click_ids={"gclid": "g"})], ads_only, SECRETS, NOW
    )
    assert len(requests) == 1 and rejected[0].not_applicable


def test_2001_conversions_make_two_requests():
    events = [make_event(event_id=str(i), click_ids={"gclid": "g"}) for i in range(2001)]
    requests, _ = google.build_requests(
        events, {"ads_account_id": "1", "ads_conversion_action": "2"}, SECRETS, NOW
    )
    assert [len(r.body["events"]) for r in requests] == [2000, 1]


def test_conversion_checks_before_batching():
    ads = {"ads_account_id": "1", "ads_conversion_action": "2"}
    stale_click = make_event(
        event_id="stale", click_time=NOW - timedelta(days=91), click_ids={"gclid": "g"}
    )
    nothing = make_event(event_id="nothing", click_ids={}, user={"em": sha("a@b.co")})
    fine = make_event(event_id="fine", click_ids={}, user={"em_google": sha("a@b.co")})
    requests, rejected = google.build_requests([stale_click, nothing, fine], ads, SECRETS, NOW)
    assert [r.event_id for r in rejected] == ["stale", "nothing"]
    assert "conversion window" in rejected[0].reason
    assert requests[0].event_ids == ("fine",)


def test_unavailable_retried_permission_denied_not(platform):
    platform.answer(
        503,
        {"error": {"code": 503, "message": "The service is unavailable.", "status": "UNAVAILABLE"}},
    ).answer(200, {"requestId": "r"})
    requests, _ = google.build_requests(
        [make_event(click_ids={"gclid": "g"})], settings(platform), SECRETS, NOW
    )
    [(outcome, attempts)] = send_all(requests)
    assert (outcome.kind, attempts) == ("ok", 2)
    platform.answer(
        403,
        {
            "error": {
                "code": 403,
                "message": "The caller does not have permission",
                "status": "PERMISSION_DENIED",
            }
        },
    )
    [(outcome, attempts)] = send_all(requests)
    assert (outcome.kind, attempts) == ("permanent", 1)
    assert len(platform.received) == 3


def test_classify_documented_answers():
    def c(status, payload):
        return google.classify(status, json.dumps(payload).encode())

    assert c(200, {"requestId": "x"}).kind == "ok"
    assert c(204, {}).kind == "ok"
    bad = c(400, {"error": {"code": 400, "message": "Invalid gclid", "status": "INVALID_ARGUMENT"}})
    assert bad.kind == "permanent" and "Invalid gclid" in bad.reason
    assert c(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}).kind == "permanent"
    assert c(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}).kind == "retry"
    assert c(409, {"error": {"code": 409, "status": "ABORTED"}}).kind == "retry"
    assert c(500, {"error": {"code": 500, "status": "INTERNAL"}}).kind == "retry"
    debug = c(
        200,
        {
            "validationMessages": [
                {
                    "fieldPath": "events",
                    "description": "Event at index: [0] has invalid name [_badEventName].",
                    "validationCode": "NAME_INVALID",
                }
            ]
        },
    )
    assert debug.kind == "permanent" and "invalid name" in debug.reason
    assert c(200, {"validationMessages": []}).kind == "ok"
