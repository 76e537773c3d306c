"""Brevo against a fake Brevo on 127.0.0.1: the chain (upsert the contact, then its event) as
Brevo documents each request (``api-key``, paths, bodies), event names in Brevo's alphabet, and
how each answer of either step is read (201/204, 429 without Retry-After, 5xx, 401, 400)."""

from __future__ import annotations

import json

import pytest

from chalicelib.platforms.brevo import PLATFORM as brevo
from chalicelib.platforms.brevo import brevo_event_name

from .conftest import NOW
from .email_fakes import EMAIL, KEY, LEAD_PROPERTIES, MASKED, deliver, lead, purchase, steps


def build(events, settings=None):
    return brevo.build_requests(events, settings or {}, {"api_key": KEY}, NOW)


def chain_at(fake, event=None):
    [request], _ = build([event or lead()], {"endpoint": fake.url})
    return request


def test_a_lead_upserts_the_contact_then_records_its_event(platform):
    platform.answer(201, {"id": 21})
    platform.answer(204, b"")
    outcome, attempts = deliver(chain_at(platform), brevo)
    assert (outcome.kind, attempts) == ("ok", 2)
    contact, event = platform.received
    for got in (contact, event):
        assert got.method == "POST"
        assert got.header("api-key") == KEY
        assert got.header("Content-Type") == "application/json"
    assert contact.path == "/v3/contacts"
    assert contact.json == {"email": EMAIL, "updateEnabled": True}
    assert event.path == "/v3/events"
    assert event.json == {
        "event_name": "rebound_lead",
        "event_date": "2026-11-23T11:00:00+00:00",
        "identifiers": {"email_id": EMAIL},
        "event_properties": LEAD_PROPERTIES,
    }


def test_an_existing_contact_answers_204_and_the_event_still_follows(platform):
    platform.default = (204, b"")
    outcome, _ = deliver(chain_at(platform, purchase(value=49.5, currency="EUR")), brevo)
    assert outcome.ok
    [_, event] = platform.received
    assert event.json["event_name"] == "rebound_purchase"
    assert (
        event.json["event_properties"]["value"],
        event.json["event_properties"]["currency"],
    ) == (
        49.5,
        "EUR",
    )


def test_event_names_keep_to_letters_digits_hyphen_and_underscore():
    assert [brevo_event_name(k) for k in ("lead", "purchase", "page_view")] == [
        "rebound_lead",
        "rebound_purchase",
        "rebound_clicked_link",
    ]
    assert brevo_event_name("Trial Started (EU)!") == "rebound_trial_started_eu"
    assert len(brevo_event_name("x" * 400)) == 255


def test_a_dry_run_shows_both_steps():
    [request] = build([lead()])[0]
    assert [(s.method, s.url) for s in steps(request)] == [
        ("POST", "https://api.brevo.com/v3/contacts"),
        ("POST", "https://api.brevo.com/v3/events"),
    ]


def test_the_contacts_and_events_endpoints_are_paced_apart():
    [request] = build([lead()])[0]
    contact, event = steps(request)
    assert contact.pace is not None and event.pace is not None and contact.pace is not event.pace
    assert (event.pace.rate, event.pace.per) == (contact.pace.rate, contact.pace.per) == (2, 0.25)


def test_a_429_without_retry_after_is_retried_with_backoff(platform):
    platform.answer(429, {"code": "too_many_requests", "message": "Too many requests"},
                    headers={"x-sib-ratelimit-reset": "1"})  # fmt: skip
    platform.default = (204, b"")
    sleeps: list[float] = []
    outcome, attempts = deliver(chain_at(platform), brevo, sleeps)
    assert (outcome.kind, attempts) == ("ok", 3)
    assert len(sleeps) == 1 and sleeps[0] <= 0.2
    assert [r.path for r in platform.received] == ["/v3/contacts"] * 2 + ["/v3/events"]


def test_a_failed_event_step_leaves_the_whole_chain_for_a_later_run_from_its_first_step(platform):
    platform.answer(201, {"id": 21})
    platform.answer(500, {"code": "internal_error", "message": "try later"})
    outcome, _ = deliver(chain_at(platform), brevo, attempts=1)
    assert (outcome.kind, outcome.reason) == ("retry", "HTTP 500: internal_error; try later")
    platform.default = (204, b"")
    outcome, _ = deliver(chain_at(platform), brevo, attempts=1)  # the retry: both steps again
    assert outcome.ok
    assert [r.path for r in platform.received] == ["/v3/contacts", "/v3/events"] * 2


@pytest.mark.parametrize(
    ("step", "status", "error", "reason"),
    [
        (0, 401, {"code": "unauthorized", "message": "Key not found"}, "unauthorized; Key not found"),
        (1, 401, {"code": "unauthorized", "message": "Key not found"}, "unauthorized; Key not found"),
        (0, 400, {"code": "invalid_parameter", "message": f"email {EMAIL} is not valid"},
         f"invalid_parameter; email {MASKED} is not valid"),
        (1, 400, {"code": "invalid_parameter", "message": "event_name is invalid"},
         "invalid_parameter; event_name is invalid"),
    ],
)  # fmt: skip
def test_401_and_400_on_either_step_are_permanent_with_brevos_words(
    platform, step, status, error, reason
):
    if step == 1:
        platform.answer(204, b"")
    platform.answer(status, error)
    outcome, attempts = deliver(chain_at(platform), brevo)
    assert (outcome.kind, outcome.reason) == ("permanent", f"HTTP {status}: {reason}")
    assert len(platform.received) == step + 1 == attempts


def test_no_idempotency_key_is_sent_the_ledger_is_what_prevents_a_resend():
    [request] = build([lead()])[0]
    contact, event = (json.loads(s.data()) for s in steps(request))
    assert set(event) == {"event_name", "event_date", "identifiers", "event_properties"}
    assert set(contact) == {"email", "updateEnabled"}
