"""The webhook destination: the body (validated against docs/webhook.schema.json), the headers,
the signature over the exact bytes, the idempotency key, the events a webhook takes, and what an
answer means."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from jsonschema import ValidationError

from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.hashing import hash_user
from chalicelib.platforms.registry import platform
from chalicelib.webhooks.destination import PLATFORM, idempotency_key

from .receiver import SECRET, BadSignature, validate, verify

NOW = datetime(2026, 12, 7, 4, 0, 0, tzinfo=UTC)
CLICKED = NOW - timedelta(hours=2)
CID = "01JEXAMPLECLICK0000000000"
SETTINGS = {
    "id": "crm",
    "url": "https://hooks.example.com/rebound",
    "secret": "ssm:/t/crm",
    "events": ["click", "lead", "purchase", "custom"],
    "personal_data": "hashed",
    "dry_run": False,
}
SECRETS = {"secret": SECRET}
LINK_CONTEXT = {
    "link": "go.example/spring-sale",
    "click_id": CID,
    "campaign": "spring",
    "tags": ["promo"],
    "utm": {"source": "newsletter", "medium": "email"},
    "destination": "https://shop.example/spring",
    "audiences": ["spring-leads"],
    "consent": "granted",
}


def click(**over) -> PlatformEvent:
    values = {
        "kind": "page_view",
        "event_id": CID,
        "event_time": CLICKED,
        "click_time": CLICKED,
        "source_url": "https://go.example/spring-sale",
        "country": "DE",
        "context": {k: v for k, v in LINK_CONTEXT.items() if k not in ("click_id", "audiences")},
    }
    return PlatformEvent(**{**values, **over})


def conversion(kind: str = "lead", **over) -> PlatformEvent:
    values = {
        "kind": kind,
        "event_id": "lead-77",
        "event_time": NOW - timedelta(minutes=5),
        "click_time": CLICKED,
        "source_url": "https://go.example/spring-sale",
        "user": hash_user({"email": "Jane@Example.com", "phone": "+49 30 1234567"}, "DE"),
        "contact": {"email": "jane@example.com"},
        "value": 49.5 if kind == "purchase" else None,
        "currency": "EUR" if kind == "purchase" else None,
        "country": "DE",
        "context": LINK_CONTEXT,
    }
    return PlatformEvent(**{**values, **over})


def build(events, settings=None, now=NOW):
    return PLATFORM.build_requests(events, {**SETTINGS, **(settings or {})}, SECRETS, now)


def test_the_registry_finds_it_by_the_webhooks_destination_name():
    assert platform("webhook:crm") is PLATFORM


@pytest.mark.parametrize(
    ("event", "kind", "category"),
    [
        (click(), "click", "click"),
        (conversion("lead"), "lead", "lead"),
        (conversion("purchase"), "purchase", "purchase"),
        (conversion("trial_started"), "trial_started", "custom"),
    ],
)
def test_each_delivery_is_one_signed_post_whose_body_the_schema_documents(event, kind, category):
    [request], rejected = build([event])
    assert rejected == []
    assert request.method == "POST" and request.url == SETTINGS["url"]
    body = json.loads(request.data())
    validate(body)
    assert (body["schema"], body["id"], body["type"], body["category"]) == (
        1,
        event.event_id,
        kind,
        category,
    )
    assert body["click"]["click_id"] == CID and body["click"]["link"] == "go.example/spring-sale"
    assert body["click"]["clicked_at"] == "2026-12-07T02:00:00.000Z"
    assert body["click"]["utm"] == {"source": "newsletter", "medium": "email"}
    assert body["click"]["country"] == "DE"
    assert body["consent"]["state"] == "granted"
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Rebound-Webhooks/1"
    assert headers["Rebound-Event"] == kind
    assert headers["Idempotency-Key"] == idempotency_key("crm", event)
    # The signature covers the exact bytes sent, at the build's time.
    assert verify(headers["Rebound-Signature"], request.data(), SECRET, now=NOW.timestamp()) == int(
        NOW.timestamp()
    )
    with pytest.raises(BadSignature):
        verify(headers["Rebound-Signature"], request.data() + b" ", SECRET, NOW.timestamp())
    with pytest.raises(BadSignature):
        verify(headers["Rebound-Signature"], request.data(), SECRET, NOW.timestamp() + 301)


def test_a_conversion_carries_its_value_audiences_and_hashed_user_data_by_default():
    [request], _ = build([conversion("purchase")])
    body = json.loads(request.data())
    assert body["conversion"] == {"event_id": "lead-77", "value": 49.5, "currency": "EUR"}
    assert body["audiences"] == ["spring-leads"]
    assert body["user"]["email_sha256"] == hashlib.sha256(b"jane@example.com").hexdigest()
    assert set(body["user"]) == {"email_sha256", "phone_sha256"}
    assert b"jane@example.com" not in request.data()


def test_personal_data_plain_sends_the_normalised_email_instead_of_its_hash():
    [request], _ = build([conversion()], {"personal_data": "plain"})
    body = json.loads(request.data())
    validate(body)
    assert body["user"]["email"] == "jane@example.com"
    assert "email_sha256" not in body["user"] and "phone_sha256" in body["user"]
    # Shown (repr, str), the request names neither the email nor the signature.
    assert "jane" not in repr(request) and "jane" not in str(request)
    assert request.safe_headers["Rebound-Signature"] == "***"


def test_a_click_has_no_user_data_and_no_conversion():
    [request], _ = build([click(user={"em": "a" * 64})])
    body = json.loads(request.data())
    assert body["user"] == {} and "conversion" not in body and body["audiences"] == []
    with pytest.raises(ValidationError):  # the schema says so too
        validate({**body, "conversion": {"event_id": "x", "value": None, "currency": None}})


def test_the_idempotency_key_is_stable_per_delivery_and_distinct_between_deliveries():
    [first], _ = build([conversion()], now=NOW)
    [later], _ = build([conversion()], now=NOW + timedelta(hours=3))  # a replay, signed anew
    assert first.headers["Idempotency-Key"] == later.headers["Idempotency-Key"]
    assert first.headers["Rebound-Signature"] != later.headers["Rebound-Signature"]
    assert json.loads(first.data())["id"] == json.loads(later.data())["id"]
    keys = {
        idempotency_key("crm", conversion()),
        idempotency_key("other", conversion()),
        idempotency_key("crm", conversion("purchase")),
        idempotency_key("crm", click(event_id="lead-77")),  # a lead whose id is its click's
        idempotency_key("crm", conversion(context={**LINK_CONTEXT, "link": "go.other/x"})),
    }
    assert len(keys) == 5


def test_events_the_webhook_does_not_take_and_tier_events_are_not_applicable():
    requests, rejected = build(
        [click(), conversion("purchase"), click(event_id=f"{CID}:tier", audience="tier")],
        {"events": ["lead"]},
    )
    assert requests == []
    assert {(r.event_id, r.not_applicable) for r in rejected} == {
        (CID, True),
        ("lead-77", True),
        (f"{CID}:tier", True),
    }


def test_without_its_secret_nothing_is_sent_and_the_reason_names_the_field():
    requests, [rejected] = PLATFORM.build_requests([conversion()], SETTINGS, {}, NOW)
    assert requests == [] and not rejected.not_applicable
    assert rejected.reason == "webhook is not configured: missing secret (secret)"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, "ok"),
        (204, "ok"),
        (301, "permanent"),
        (307, "permanent"),
        (400, "permanent"),
        (401, "permanent"),
        (404, "permanent"),
        (408, "retry"),
        (410, "permanent"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_what_an_answer_means(status, kind):
    outcome = PLATFORM.classify(status, b"<html>nope</html>")
    assert outcome.kind == kind
    assert outcome.reason.startswith(f"HTTP {status}")
    if status == 410:
        assert "Gone" in outcome.reason
    if status == 400:
        assert outcome.reason == "HTTP 400: <html>nope</html>"


@pytest.mark.parametrize(("allow", "public_only"), [("0", True), ("1", False)])
def test_production_requests_connect_to_public_addresses_only(monkeypatch, allow, public_only):
    monkeypatch.setenv("REBOUND_ALLOW_ENDPOINTS", allow)
    [request], _ = build([click()])
    assert request.public_only is public_only
