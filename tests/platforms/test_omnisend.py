"""Omnisend's Send Customer event (API 2026-03-15) against a fake Omnisend on 127.0.0.1: the
exact request (path, ``Authorization: Omnisend-API-Key``, ``Omnisend-Version``), ``eventID`` a UUID
that is the same for every resend of an event, and how each answer is read (202, 429 without
headers, 5xx, 401, 403, 400 problem details)."""

from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.platforms.omnisend import PLATFORM as omnisend
from chalicelib.platforms.omnisend import event_uuid

from .conftest import NOW, page_view
from .email_fakes import EMAIL, KEY, LEAD_PROPERTIES, MASKED, deliver, lead, purchase


def build(events, settings=None):
    return omnisend.build_requests(events, settings or {}, {"api_key": KEY}, NOW)


def test_a_lead_is_one_custom_event_for_the_contact_of_its_email(platform):
    platform.default = (202, b"")
    [request], _ = build([lead()], {"endpoint": platform.url})
    outcome, attempts = deliver(request, omnisend)
    assert (outcome.kind, attempts) == ("ok", 1)
    [got] = platform.received
    assert (got.method, got.path) == ("POST", "/api/events")
    assert got.header("Authorization") == f"Omnisend-API-Key {KEY}"
    assert got.header("Omnisend-Version") == "2026-03-15"
    assert got.header("Content-Type") == "application/json"
    body = got.json
    assert body == {
        "eventName": "Rebound Lead",
        "origin": "api",
        "eventID": event_uuid("lead-42"),
        "eventTime": "2026-11-23T11:00:00+00:00",
        "contact": {"email": EMAIL},
        "properties": LEAD_PROPERTIES,
    }
    assert "eventVersion" not in body  # a custom event has none


def test_event_id_is_a_uuid_the_same_for_every_resend_and_a_uuid_event_id_is_kept():
    derived = event_uuid("order-1001")
    assert uuid.UUID(derived).version == 5
    assert derived == event_uuid("order-1001") != event_uuid("order-1002")
    merchants = "9afca57b-d157-478b-adde-b9506322b16f"
    assert event_uuid(merchants.upper()) == merchants
    [first], _ = build([purchase(value=20.0, currency="USD")])
    [again], _ = build([purchase(value=20.0, currency="USD")])
    assert json.loads(first.data())["eventID"] == json.loads(again.data())["eventID"] == derived
    assert json.loads(first.data())["properties"]["value"] == 20.0


def test_clicks_are_not_for_omnisend():
    requests, rejected = build([page_view(click_ids={"_kx": "x", "mc_eid": "y"})])
    assert requests == [] and [r.not_applicable for r in rejected] == [True]


def test_a_429_without_headers_is_retried_with_backoff(platform):
    platform.answer(
        429,
        {
            "type": "https://problems.omnisend.com/rate-limit-exceeded",
            "title": "Too Many Requests",
            "status": 429,
        },
    )
    platform.answer(202, b"")
    [request], _ = build([lead()], {"endpoint": platform.url})
    sleeps: list[float] = []
    outcome, attempts = deliver(request, omnisend, sleeps)
    assert (outcome.kind, attempts) == ("ok", 2)
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.2  # backoff, nothing asked for
    assert [r.json["eventID"] for r in platform.received] == [event_uuid("lead-42")] * 2


@pytest.mark.parametrize("status", [429, 500, 502])
def test_429_and_5xx_are_left_for_later_when_the_tries_run_out(platform, status):
    platform.default = (status, b'{"title": "Internal server error", "status": 500}')
    [request], _ = build([lead()], {"endpoint": platform.url})
    outcome, attempts = deliver(request, omnisend, attempts=2)
    assert (outcome.kind, outcome.reason, attempts) == (
        "retry",
        f"HTTP {status}: Internal server error",
        2,
    )


@pytest.mark.parametrize(
    ("status", "problem", "reason"),
    [
        (401, {"title": "Unauthorized", "detail": "invalid API key"}, "Unauthorized; invalid API key"),
        (403, {"title": "Forbidden", "detail": "missing scope events.write"},
         "Forbidden; missing scope events.write"),
        (
            400,
            {
                "title": "Validation failed",
                "errors": [
                    {"field": "contact.email", "code": "invalid_format", "message": f"{EMAIL}?"}
                ],
            },
            f"Validation failed; invalid_format {MASKED}? (contact.email)",
        ),
    ],
)  # fmt: skip
def test_401_403_and_400_are_permanent_with_omnisends_words(platform, status, problem, reason):
    platform.answer(
        status, {"type": "https://problems.omnisend.com/x", "status": status, **problem}
    )
    [request], _ = build([lead()], {"endpoint": platform.url})
    outcome, attempts = deliver(request, omnisend)
    assert (outcome.kind, outcome.reason, attempts) == ("permanent", f"HTTP {status}: {reason}", 1)
