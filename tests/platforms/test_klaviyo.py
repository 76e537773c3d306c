"""Klaviyo Create Event against a fake Klaviyo on 127.0.0.1: the exact JSON:API request (path,
key, revision, content type), ``unique_id`` = Rebound's event id, ``_kx`` clicks, and how each
documented answer is read (202, 429 with and without Retry-After, 5xx, 401, 403, 400)."""

from __future__ import annotations

import json

import pytest

from chalicelib.platforms.klaviyo import DEFAULT_REVISION
from chalicelib.platforms.klaviyo import PLATFORM as klaviyo

from .conftest import NOW, page_view
from .email_fakes import EMAIL, KEY, LEAD_PROPERTIES, MASKED, deliver, lead, purchase

KX = "eyJrbGF2aXlvX2lkIjogIjAxSDEyMyJ9.Case-Sensitive_"
SETTINGS = {"revision": "2026-10-15"}


def build(events, settings=SETTINGS, secrets=None):
    return klaviyo.build_requests(events, settings, secrets or {"api_key": KEY}, NOW)


def at(fake, **extra) -> dict:
    return {**SETTINGS, "endpoint": fake.url, **extra}


def test_a_lead_is_one_event_for_the_profile_of_its_email_keyed_by_rebounds_event_id(platform):
    platform.default = (202, b"")
    [request], _ = build([lead()], at(platform))
    outcome, attempts = deliver(request, klaviyo)
    assert (outcome.kind, attempts) == ("ok", 1)
    [got] = platform.received
    assert (got.method, got.path) == ("POST", "/api/events")
    assert got.header("Authorization") == f"Klaviyo-API-Key {KEY}"
    assert got.header("revision") == "2026-10-15"
    assert got.header("Content-Type") == "application/vnd.api+json"
    assert got.header("accept") == "application/vnd.api+json"
    assert got.json == {
        "data": {
            "type": "event",
            "attributes": {
                "properties": LEAD_PROPERTIES,
                "time": "2026-11-23T11:00:00+00:00",
                "unique_id": "lead-42",
                "metric": {"data": {"type": "metric", "attributes": {"name": "Rebound Lead"}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": EMAIL}}},
            },
        }
    }


def test_a_purchase_carries_its_value_and_currency():
    [request], _ = build([purchase(value=49.5, currency="EUR")])
    attributes = json.loads(request.data())["data"]["attributes"]
    assert attributes["metric"]["data"]["attributes"]["name"] == "Rebound Purchase"
    assert (attributes["value"], attributes["value_currency"]) == (49.5, "EUR")
    assert attributes["unique_id"] == "order-1001"


def test_a_custom_conversion_is_its_own_metric():
    [request], _ = build([lead(kind="Trial Started", event_id="t-1")])
    attributes = json.loads(request.data())["data"]["attributes"]
    assert attributes["metric"]["data"]["attributes"]["name"] == "Rebound Trial Started"
    assert "value" not in attributes


def test_a_click_with_kx_is_a_clicked_link_event_for_that_profile_byte_for_byte():
    click = page_view(click_ids={"_kx": KX, "fbclid": "IwAR-x"})
    [request], rejected = build([click])
    assert rejected == []
    attributes = json.loads(request.data())["data"]["attributes"]
    assert attributes["profile"]["data"]["attributes"] == {"_kx": KX}
    assert attributes["metric"]["data"]["attributes"]["name"] == "Rebound Clicked Link"
    assert attributes["unique_id"] == click.event_id
    assert attributes["time"] == "2026-11-23T11:59:00+00:00"


def test_the_default_revision_when_the_entry_names_none():
    [request], _ = build([lead()], settings={})
    assert request.headers["revision"] == DEFAULT_REVISION


def test_a_metric_name_klaviyo_would_refuse_is_refused_before_sending():
    requests, rejected = build([lead(kind="x" * 130, event_id="long")])
    assert requests == []
    assert [(r.reason, r.not_applicable) for r in rejected] == [
        ("the metric name is longer than 127 characters", False)
    ]


def test_a_429_with_retry_after_is_retried_after_the_wait_it_asks_for(platform):
    platform.answer(
        429,
        {"errors": [{"code": "throttled", "detail": "Request was throttled."}]},
        headers={"Retry-After": "7"},
    )
    platform.answer(202, b"")
    [request], _ = build([lead()], at(platform))
    sleeps: list[float] = []
    outcome, attempts = deliver(request, klaviyo, sleeps)
    assert (outcome.kind, attempts) == ("ok", 2)
    assert sleeps == [7.0]
    assert [r.json["data"]["attributes"]["unique_id"] for r in platform.received] == ["lead-42"] * 2


@pytest.mark.parametrize(
    ("status", "headers"), [(429, None), (500, None), (503, {"Retry-After": "1"})]
)
def test_a_429_without_retry_after_and_5xx_are_retried_then_left_for_later(
    platform, status, headers
):
    platform.default = (status, b'{"errors": [{"code": "x", "detail": "busy"}]}', headers or {})
    [request], _ = build([lead()], at(platform))
    outcome, attempts = deliver(request, klaviyo, attempts=2)
    assert (outcome.kind, attempts) == ("retry", 2)
    assert outcome.reason == f"HTTP {status}: x busy"


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (
            401,
            {"code": "not_authenticated", "detail": "Incorrect authentication credentials."},
            "HTTP 401: not_authenticated Incorrect authentication credentials.",
        ),
        (
            403,
            {"code": "permission_denied", "detail": "Missing scope events:write."},
            "HTTP 403: permission_denied Missing scope events:write.",
        ),
        (
            400,
            {
                "code": "invalid",
                "detail": f"{EMAIL} is not a valid email address.",
                "source": {"pointer": "/data/attributes/profile/data/attributes/email"},
            },
            f"HTTP 400: invalid {MASKED} is not a valid email address. "
            "(/data/attributes/profile/data/attributes/email)",
        ),
    ],
)
def test_401_403_and_400_are_permanent_with_klaviyos_words(platform, status, error, reason):
    platform.answer(status, {"errors": [{"id": "e1", "status": status, "title": "t", **error}]})
    [request], _ = build([lead()], at(platform))
    outcome, attempts = deliver(request, klaviyo)
    assert (outcome.kind, outcome.reason, attempts) == ("permanent", reason, 1)
    assert len(platform.received) == 1


def test_a_key_klaviyo_echoes_back_is_not_kept_in_the_reason(platform):
    platform.answer(401, {"errors": [{"code": "not_authenticated", "detail": f"bad key {KEY}"}]})
    [request], _ = build([lead()], at(platform))
    outcome, _ = deliver(request, klaviyo)
    assert KEY not in outcome.reason and "***" in outcome.reason
