"""ActiveCampaign: a conversion is contact/sync then contactTags, checked against a fake
ActiveCampaign on 127.0.0.1 (path, Api-Token, bodies), and what each of its answers means."""

from __future__ import annotations

import json

import pytest

from chalicelib.platforms.activecampaign import CONTACT_PLACEHOLDER, ActiveCampaign
from chalicelib.platforms.activecampaign import PLATFORM as ac
from chalicelib.platforms.pace import Pace

from .conftest import NOW, page_view
from .email_fakes import EMAIL, KEY, MASKED, deliver, lead, purchase, steps

SETTINGS = {"account": "acme", "tags": {"lead": 7, "purchase": 8}}
SECRETS = {"api_key": KEY}
SYNCED = {"contact": {"id": "113", "email": EMAIL}}
TAGGED = {"contactTag": {"contact": "113", "tag": "7", "id": "1"}}


def build(events, settings=SETTINGS):
    return ac.build_requests(events, settings, SECRETS, NOW)


@pytest.fixture
def paced(monkeypatch):
    """The account's pace on a fake clock: the waits it asks for, none of them slept."""
    now, waits = [0.0], []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pace = Pace(*ac.PACE[:2], clock=lambda: now[0], sleep=sleep)
    monkeypatch.setattr(ActiveCampaign, "pace", lambda self, settings, secrets: pace)
    return waits


def at(server, **settings) -> dict:
    return {**SETTINGS, "endpoint": server.url, **settings}


# --- what is sent -------------------------------------------------------------------------------


def test_a_lead_is_the_contact_synced_by_email_then_its_tag_at_the_accounts_host():
    [request], rejected = build([lead()])
    assert rejected == []
    assert request.method == "POST"
    assert request.url == "https://acme.api-us1.com/api/3/contact/sync"
    assert request.headers["Api-Token"] == KEY
    assert request.body == {"contact": {"email": EMAIL}}
    tag = request.then(SYNCED)
    assert (tag.method, tag.url) == ("POST", "https://acme.api-us1.com/api/3/contactTags")
    assert tag.body == {"contactTag": {"contact": 113, "tag": 7}}
    assert tag.headers["Api-Token"] == KEY and tag.event_ids == ("lead-42",)
    assert tag.then is None


def test_a_dry_run_shows_where_the_contact_id_goes():
    [request], _ = build([purchase()])
    [_, tag] = list(steps(request))
    assert tag.body == {"contactTag": {"contact": CONTACT_PLACEHOLDER, "tag": 8}}


def test_mapped_custom_fields_carry_the_clicks_context_as_text():
    settings = {**SETTINGS, "fields": {"campaign": 12, "link": 13, "value": 14, "utm_term": 15}}
    [request], _ = build([purchase(value=49.5)], settings)
    assert request.body["contact"]["fieldValues"] == [
        {"field": "12", "value": "spring"},
        {"field": "13", "value": "go.brand.com/spring-sale"},
        {"field": "14", "value": "49.5"},
    ]  # utm_term: the click had none, the field is left as it is


def test_a_kind_without_a_tag_is_not_activecampaigns_and_the_rest_still_goes():
    requests, rejected = build([purchase(kind="trial", event_id="t-1"), lead()])
    assert [r.event_ids for r in requests] == [("lead-42",)]
    assert [(r.event_id, r.not_applicable) for r in rejected] == [("t-1", True)]
    assert "tags" in rejected[0].reason and "trial" in rejected[0].reason


def test_clicks_are_not_sent_activecampaign_names_no_subscriber_in_a_link():
    requests, rejected = build([page_view(click_ids={"mc_eid": "x", "_kx": "y"})])
    assert requests == [] and [r.not_applicable for r in rejected] == [True]


def test_the_pace_is_the_accounts_whatever_the_key():
    [one], _ = build([lead()])
    [two], _ = ac.build_requests([lead()], SETTINGS, {"api_key": "another-key"}, NOW)
    [other], _ = build([lead()], {**SETTINGS, "account": "other"})
    assert one.pace is two.pace and one.pace is not other.pace
    assert one.then(SYNCED).pace is one.pace


def test_the_pace_spaces_a_chains_steps_to_five_a_second(paced):
    pace = ac.pace(SETTINGS, SECRETS)
    for _ in range(6):
        with pace.slot(10):
            pass
    assert paced == pytest.approx([0.25] * 5)  # no burst: at most 5 in any second


# --- against a fake ActiveCampaign ----------------------------------------------------------------


def test_a_lead_reaches_the_fake_as_documented(platform, paced):
    platform.answer(200, SYNCED).answer(201, TAGGED)
    [request], _ = build([lead()], at(platform))
    outcome, attempts = deliver(request, ac)
    assert (outcome.kind, attempts) == ("ok", 2)
    sync, tag = platform.received
    assert (sync.method, sync.path, tag.method, tag.path) == (
        "POST",
        "/api/3/contact/sync",
        "POST",
        "/api/3/contactTags",
    )
    for got in (sync, tag):
        assert got.header("Api-Token") == KEY
        assert got.header("Content-Type") == "application/json"
    assert sync.json == {"contact": {"email": EMAIL}}
    assert tag.json == {"contactTag": {"contact": 113, "tag": 7}}
    assert paced == [pytest.approx(0.25)]  # the tag waited for the account's next slot


@pytest.mark.parametrize(
    ("status", "headers", "waited"),
    [(429, {"Retry-After": "3"}, 3.0), (429, {}, None), (500, {}, None), (503, {}, None)],
)
def test_a_throttle_or_server_error_is_retried(platform, paced, status, headers, waited):
    platform.answer(status, {"message": "slow down"}, headers)
    platform.answer(200, SYNCED).answer(201, TAGGED)
    [request], _ = build([lead()], at(platform))
    sleeps: list[float] = []
    outcome, attempts = deliver(request, ac, sleeps)
    assert (outcome.kind, attempts) == ("ok", 3)
    assert len(platform.received) == 3
    if waited:
        assert sleeps == [waited]  # Retry-After honoured
    else:
        assert len(sleeps) == 1 and sleeps[0] <= 0.2  # the backoff's own wait


def test_a_bad_key_is_a_permanent_403_and_the_key_is_never_in_the_reason(platform, paced):
    platform.answer(403, {"message": f"Forbidden: key {KEY} is not valid"})
    [request], _ = build([lead()], at(platform))
    outcome, attempts = deliver(request, ac)
    assert (outcome.kind, attempts) == ("permanent", 1)
    assert outcome.reason.startswith("HTTP 403: Forbidden") and KEY not in outcome.reason
    assert len(platform.received) == 1  # no tag without a contact


def test_an_invalid_email_is_permanent_with_activecampaigns_words_masked(platform, paced):
    platform.answer(
        422,
        {"errors": [{"title": f"Email {EMAIL} is not valid.", "code": "email_invalid"}]},
    )
    [request], _ = build([lead()], at(platform))
    outcome, _ = deliver(request, ac)
    assert outcome.kind == "permanent"
    assert outcome.reason == f"HTTP 422: Email {MASKED} is not valid. (email_invalid)"


def test_a_missing_tag_is_permanent_and_names_it(platform, paced):
    platform.answer(200, SYNCED).answer(
        404, {"errors": [{"title": "Not Found", "detail": "Tag not found"}]}
    )
    [request], _ = build([lead()], at(platform))
    outcome, attempts = deliver(request, ac)
    assert (outcome.kind, attempts) == ("permanent", 2)
    assert outcome.reason == "HTTP 404: Not Found Tag not found"


def test_a_tag_the_contact_already_has_is_done_not_failed(platform, paced):
    platform.answer(200, SYNCED).answer(
        422, {"errors": [{"title": "The contact tag already exists", "code": "duplicate"}]}
    )
    [request], _ = build([lead()], at(platform))
    outcome, attempts = deliver(request, ac)
    assert (outcome.kind, attempts) == ("ok", 2)
    assert "taken as done" in outcome.reason


def test_a_sync_answer_without_a_contact_id_is_a_permanent_unreadable_answer(platform, paced):
    platform.answer(200, {"fieldValues": []})
    [request], _ = build([lead()], at(platform))
    outcome, _ = deliver(request, ac)
    assert outcome.kind == "permanent" and outcome.reason == "unreadable answer: ValueError"
    assert len(platform.received) == 1


def test_a_bad_request_is_permanent_with_its_message():
    outcome = ac.classify(400, json.dumps({"message": "Invalid JSON"}).encode())
    assert (outcome.kind, outcome.reason) == ("permanent", "HTTP 400: Invalid JSON")
