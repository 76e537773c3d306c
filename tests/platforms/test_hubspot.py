"""HubSpot: a conversion upserts the contact by email with its rebound_* properties, and, where
the config names a custom event for its kind, sends that event keyed by a uuid derived from
Rebound's event id. Checked against a fake HubSpot on 127.0.0.1, with what its answers mean."""

from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.platforms.hubspot import PLATFORM as hs
from chalicelib.platforms.hubspot import HubSpot, event_uuid
from chalicelib.platforms.pace import Pace

from .conftest import NOW, page_view
from .email_fakes import EMAIL, KEY, MASKED, deliver, lead, purchase, steps

SETTINGS: dict = {}
EVENTS = {"event_names": {"lead": "pe1234567_rebound_lead", "purchase": "pe1234567_buy"}}
SECRETS = {"access_token": KEY}
UPSERTED = {
    "status": "COMPLETE",
    "results": [{"id": "512", "properties": {"email": EMAIL}, "new": True}],
}
MISSING = {
    "status": "error",
    "message": 'Property values were not valid: [{"isValid":false,"message":"Property \\"'
    'rebound_campaign\\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":'
    '"rebound_campaign"}]',
    "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
    "category": "VALIDATION_ERROR",
}


def build(events, settings=SETTINGS, secrets=SECRETS):
    return hs.build_requests(events, settings, secrets, NOW)


def at(server, **settings) -> dict:
    return {**settings, "endpoint": server.url}


@pytest.fixture
def paced(monkeypatch):
    """The account's pace on a fake clock (nothing slept)."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pace = Pace(*hs.PACE[:2], clock=lambda: now[0], sleep=sleep)
    monkeypatch.setattr(HubSpot, "pace", lambda self, settings, secrets: pace)
    return pace


# --- what is sent -------------------------------------------------------------------------------


def test_a_purchase_upserts_the_contact_by_email_with_its_rebound_properties():
    [request], rejected = build([purchase(value=49.5)])
    assert rejected == []
    assert request.method == "POST"
    assert request.url == "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body == {
        "inputs": [
            {
                "id": EMAIL,
                "idProperty": "email",
                "properties": {
                    "rebound_last_event": "Rebound Purchase",
                    "rebound_last_event_at": "2026-11-23T11:00:00.000Z",
                    "rebound_last_event_id": "order-1001",
                    "rebound_campaign": "spring",
                    "rebound_link": "go.brand.com/spring-sale",
                    "rebound_destination": "https://shop.example/spring?utm_source=newsletter",
                    "rebound_utm_source": "newsletter",
                    "rebound_utm_medium": "email",
                    "rebound_utm_campaign": "spring-24",
                    "rebound_click_time": "2026-11-20T09:30:15.123Z",
                    "rebound_value": "49.5",
                    "rebound_currency": "EUR",
                    "rebound_audiences": "spring-leads",
                    "rebound_ad_consent": "denied",
                },
            }
        ]
    }
    assert request.then is None  # no custom event configured: one step


def test_with_a_custom_event_the_event_follows_keyed_by_a_uuid_of_reboundsevent_id():
    [request], _ = build([lead()], EVENTS)
    event = request.then(UPSERTED)
    assert (event.method, event.url) == ("POST", "https://api.hubapi.com/events/v3/send")
    assert event.headers["Authorization"] == f"Bearer {KEY}"
    assert event.body == {
        "eventName": "pe1234567_rebound_lead",
        "email": EMAIL,
        "occurredAt": "2026-11-23T11:00:00.000Z",
        "properties": {
            "rebound_event_id": "lead-42",
            "rebound_campaign": "spring",
            "rebound_link": "go.brand.com/spring-sale",
            "rebound_utm_source": "newsletter",
            "rebound_utm_medium": "email",
            "rebound_utm_campaign": "spring-24",
            "rebound_ad_consent": "denied",
        },
        "uuid": event_uuid("lead-42"),
    }
    assert uuid.UUID(event.body["uuid"]).version == 5
    [again], _ = build([lead()], EVENTS)
    assert again.then(None).body["uuid"] == event.body["uuid"]  # a replay: the same key
    [other], _ = build([lead(event_id="lead-43")], EVENTS)
    assert other.then(None).body["uuid"] != event.body["uuid"]


def test_a_kind_without_a_custom_event_still_sets_the_properties():
    [request], _ = build([purchase(kind="trial", event_id="t-1")], EVENTS)
    assert request.then is None
    assert request.body["inputs"][0]["properties"]["rebound_last_event"] == "Rebound trial"


def test_clicks_are_not_sent_hubspot_names_no_contact_in_a_link():
    requests, rejected = build([page_view(click_ids={"mc_eid": "x", "_kx": "y"})])
    assert requests == [] and [r.not_applicable for r in rejected] == [True]


def test_the_pace_is_the_tokens_and_spaces_requests_to_nine_a_second():
    [one], _ = build([lead()], EVENTS)
    [two], _ = build([purchase()], EVENTS)
    [other], _ = build([lead()], EVENTS, {"access_token": "another-token"})
    assert one.pace is two.pace is one.then(None).pace and one.pace is not other.pace
    assert (one.pace.rate, one.pace.per) == (9, 1.0)


# --- against a fake HubSpot ---------------------------------------------------------------------


def test_a_lead_reaches_the_fake_as_documented(platform, paced):
    platform.answer(200, UPSERTED).answer(204, b"")
    [request], _ = build([lead()], at(platform, **EVENTS))
    outcome, attempts = deliver(request, hs)
    assert (outcome.kind, attempts) == ("ok", 2)
    upsert, event = platform.received
    assert (upsert.method, upsert.path) == ("POST", "/crm/v3/objects/contacts/batch/upsert")
    assert (event.method, event.path) == ("POST", "/events/v3/send")
    for got in platform.received:
        assert got.header("Authorization") == f"Bearer {KEY}"
        assert got.header("Content-Type") == "application/json"
    assert upsert.json["inputs"][0]["id"] == EMAIL
    assert event.json["uuid"] == event_uuid("lead-42") and event.json["email"] == EMAIL


@pytest.mark.parametrize(
    ("status", "headers", "waited"),
    [(429, {"Retry-After": "3"}, 3.0), (429, {}, None), (502, {}, None)],
)
def test_a_throttle_or_server_error_is_retried(platform, paced, status, headers, waited):
    body = {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
    }
    platform.answer(status, body, headers).answer(200, UPSERTED)
    [request], _ = build([lead()], at(platform))
    sleeps: list[float] = []
    outcome, attempts = deliver(request, hs, sleeps)
    assert (outcome.kind, attempts) == ("ok", 2)
    assert sleeps == [waited] if waited else (len(sleeps) == 1 and sleeps[0] <= 0.2)


def test_a_missing_property_is_permanent_and_named(platform, paced):
    platform.answer(400, MISSING)
    [request], _ = build([lead()], at(platform, **EVENTS))
    outcome, attempts = deliver(request, hs)
    assert (outcome.kind, attempts) == ("permanent", 1)
    assert outcome.reason == (
        "HTTP 400: PROPERTY_DOESNT_EXIST: rebound_campaign "
        "(create it in HubSpot: docs/remarketing.md)"
    )
    assert len(platform.received) == 1  # no event for a contact not updated


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            401,
            {
                "status": "error",
                "message": "Authentication credentials not found.",
                "category": "INVALID_AUTHENTICATION",
            },
            "HTTP 401: INVALID_AUTHENTICATION: Authentication credentials not found.",
        ),
        (
            403,
            {
                "status": "error",
                "message": "This app hasn't been granted all required scopes",
                "category": "MISSING_SCOPES",
            },
            "HTTP 403: MISSING_SCOPES: This app hasn't been granted all required scopes",
        ),
        (
            400,
            {
                "status": "error",
                "message": f"Email address {EMAIL} is invalid",
                "category": "VALIDATION_ERROR",
            },
            f"HTTP 400: VALIDATION_ERROR: Email address {MASKED} is invalid",
        ),
    ],
)
def test_refusals_are_permanent_with_hubspots_words(platform, paced, status, body, reason):
    platform.answer(status, body)
    [request], _ = build([lead()], at(platform))
    outcome, attempts = deliver(request, hs)
    assert (outcome.kind, outcome.reason, attempts) == ("permanent", reason, 1)


def test_an_event_refused_after_the_contact_is_permanent(platform, paced):
    platform.answer(200, UPSERTED).answer(
        400,
        {
            "status": "error",
            "message": "Event pe1234567_rebound_lead does not exist",
            "category": "VALIDATION_ERROR",
        },
    )
    [request], _ = build([lead()], at(platform, **EVENTS))
    outcome, attempts = deliver(request, hs)
    assert (outcome.kind, attempts) == ("permanent", 2)
    assert "does not exist" in outcome.reason


def test_an_event_already_recorded_under_its_uuid_is_done(platform, paced):
    platform.answer(200, UPSERTED).answer(
        409,
        {"status": "error", "message": "Event with uuid already exists", "category": "CONFLICT"},
    )
    [request], _ = build([lead()], at(platform, **EVENTS))
    outcome, _ = deliver(request, hs)
    assert outcome.kind == "ok" and "recorded before" in outcome.reason


def test_a_batch_answer_that_lists_an_error_is_permanent():
    body = {
        "status": "COMPLETE",
        "results": [],
        "numErrors": 1,
        "errors": [{"status": "error", "category": "VALIDATION_ERROR", "message": "bad value"}],
    }
    outcome = hs.classify(207, json.dumps(body).encode())
    assert (outcome.kind, outcome.reason) == ("permanent", "HTTP 207: VALIDATION_ERROR: bad value")


def test_the_token_is_never_in_a_reason_or_a_repr(platform, paced):
    platform.answer(401, {"status": "error", "message": f"token {KEY} expired"})
    [request], _ = build([lead()], at(platform))
    outcome, _ = deliver(request, hs)
    assert KEY not in outcome.reason and "token *** expired" in outcome.reason
    assert all(KEY not in repr(step) for step in steps(request))
