"""Kit API v4 against a fake Kit on 127.0.0.1: the chain (upsert the subscriber, then tag it by
email with the tag configured for the conversion's kind) as Kit documents each request
(``X-Kit-Api-Key``, paths, bodies), and how each answer is read (200/201, a plain-text 429 without
Retry-After, 5xx, 401, 404, 422)."""

from __future__ import annotations

import pytest

from chalicelib.platforms.kit import PLATFORM as kit

from .conftest import NOW
from .email_fakes import EMAIL, KEY, MASKED, deliver, lead, purchase, steps

TAGS = {"lead": 4100001, "purchase": 4100002, "Trial Started": 4100003}
SUBSCRIBER = {"subscriber": {"id": 1103, "email_address": EMAIL, "state": "active", "fields": {}}}


def build(events, settings=None):
    return kit.build_requests(events, {"tags": TAGS, **(settings or {})}, {"api_key": KEY}, NOW)


def chain_at(fake, event=None):
    [request], _ = build([event or lead()], {"endpoint": fake.url})
    return request


def test_a_lead_upserts_the_subscriber_then_adds_the_lead_tag_by_email(platform):
    platform.answer(201, SUBSCRIBER)
    platform.answer(201, SUBSCRIBER)
    outcome, attempts = deliver(chain_at(platform), kit)
    assert (outcome.kind, attempts) == ("ok", 2)
    upsert, tag = platform.received
    for got in (upsert, tag):
        assert got.method == "POST"
        assert got.header("X-Kit-Api-Key") == KEY
        assert got.header("Content-Type") == "application/json"
    assert upsert.path == "/v4/subscribers"
    assert upsert.json == {
        "email_address": EMAIL,
        "fields": {
            "rebound_link": "go.brand.com/spring-sale",
            "rebound_campaign": "spring",
            "rebound_destination": "https://shop.example/spring?utm_source=newsletter",
            "rebound_utm_source": "newsletter",
            "rebound_utm_medium": "email",
            "rebound_utm_campaign": "spring-24",
            "rebound_click_time": "2026-11-20T09:30:15.123000+00:00",
            "rebound_ad_consent": "denied",
        },
    }
    assert tag.path == "/v4/tags/4100001/subscribers"
    assert tag.json == {"email_address": EMAIL}


def test_each_kind_gets_its_own_tag_and_a_kind_without_one_is_not_for_kit():
    events = [
        purchase(),
        lead(kind="Trial Started", event_id="t-1"),
        lead(kind="subscribe", event_id="s-1"),
    ]
    requests, rejected = build(events)
    assert [[s.url.rsplit("/v4/", 1)[1] for s in steps(r)] for r in requests] == [
        ["subscribers", "tags/4100002/subscribers"],
        ["subscribers", "tags/4100003/subscribers"],
    ]
    assert [(r.event_id, r.reason, r.not_applicable) for r in rejected] == [
        ("s-1", "no subscribe in kit's tags", True)
    ]


def test_an_entry_without_tags_is_refused_by_name():
    requests, rejected = kit.build_requests([lead()], {}, {"api_key": KEY}, NOW)
    assert requests == []
    assert [r.reason for r in rejected] == ["kit is not configured: missing tags"]


def test_an_existing_subscriber_who_already_has_the_tag_is_fine(platform):
    platform.default = (200, b'{"subscriber": {"id": 1103}}')
    outcome, attempts = deliver(chain_at(platform), kit)
    assert (outcome.kind, attempts) == ("ok", 2)


def test_a_plain_text_429_without_retry_after_is_retried_with_backoff(platform):
    platform.answer(429, b"Retry later", headers={"Content-Type": "text/plain"})
    platform.default = (201, b"{}")
    sleeps: list[float] = []
    outcome, attempts = deliver(chain_at(platform), kit, sleeps)
    assert (outcome.kind, attempts) == ("ok", 3)
    assert len(sleeps) == 1 and sleeps[0] <= 0.2
    assert [r.path for r in platform.received] == ["/v4/subscribers"] * 2 + [
        "/v4/tags/4100001/subscribers"
    ]


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (429, b"Retry later", "Retry later"),
        (500, b'{"errors": ["Something went wrong"]}', "Something went wrong"),
    ],
)
def test_429_and_5xx_are_left_for_later_when_the_tries_run_out(platform, status, body, said):
    platform.default = (status, body)
    outcome, attempts = deliver(chain_at(platform), kit, attempts=2)
    assert (outcome.kind, outcome.reason, attempts) == ("retry", f"HTTP {status}: {said}", 2)


@pytest.mark.parametrize(
    ("step", "status", "errors", "reason"),
    [
        (0, 401, ["The access token is invalid"], "The access token is invalid"),
        (0, 422, [f"Email address {EMAIL} is invalid"], f"Email address {MASKED} is invalid"),
        (1, 404, ["Not Found"], "Not Found"),  # the tag id does not exist
        (1, 401, ["The access token is invalid"], "The access token is invalid"),
    ],
)
def test_401_404_and_422_are_permanent_with_kits_words(platform, step, status, errors, reason):
    if step == 1:
        platform.answer(201, SUBSCRIBER)
    platform.answer(status, {"errors": errors})
    outcome, attempts = deliver(chain_at(platform), kit)
    assert (outcome.kind, outcome.reason) == ("permanent", f"HTTP {status}: {reason}")
    assert len(platform.received) == step + 1 == attempts
