"""Mailchimp: a conversion is the member (PUT by subscriber hash), its event, and a tag where
configured; a click with mc_eid is the member found by unique_email_id, then its "clicked link"
event. Checked against a fake Mailchimp on 127.0.0.1, with what each of its answers means."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from chalicelib.platforms.http import HttpRequest
from chalicelib.platforms.mailchimp import (
    MEMBER_PLACEHOLDER,
    NO_MEMBER,
    data_centre,
    mailchimp_event_name,
)
from chalicelib.platforms.mailchimp import PLATFORM as mc

from .conftest import NOW, page_view
from .email_fakes import EMAIL, LEAD_PROPERTIES, MASKED, deliver, lead, purchase, steps

KEY = "0123456789abcdef0123456789abcdef-us6"
SETTINGS = {"list_id": "a1b2c3d4e5"}
SECRETS = {"api_key": KEY}
HASH = hashlib.md5(EMAIL.encode(), usedforsecurity=False).hexdigest()  # the member id
ROOT = "https://us6.api.mailchimp.com/3.0/lists/a1b2c3d4e5"
MC_EID = "a1b2c3d4e5"
CLICK = {"mc_eid": MC_EID}
FOUND = {"members": [{"id": HASH}], "total_items": 1}
PROBLEM = {
    "type": "https://mailchimp.com/developer/marketing/docs/errors/",
    "title": "Invalid Resource",
    "status": 400,
    "detail": f"{EMAIL} looks fake or invalid, please enter a real email address.",
    "instance": "f00",
}


def build(events, settings=SETTINGS, secrets=SECRETS):
    return mc.build_requests(events, settings, secrets, NOW)


def at(server, **settings) -> dict:
    return {**SETTINGS, "endpoint": f"{server.url}/3.0", **settings}


def auth(request: HttpRequest) -> str:
    scheme, token = request.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    return base64.b64decode(token).decode()


# --- what is sent -------------------------------------------------------------------------------


def test_the_data_centre_is_the_keys_suffix():
    assert data_centre(KEY) == "us6"
    assert data_centre("abc-us21") == "us21"
    assert data_centre("no-suffix-here") is None
    assert data_centre("abc-us6.evil.example") is None  # never a host of the key's choosing
    assert data_centre("abcdef") is None


def test_a_lead_is_the_member_upserted_by_hash_then_its_event():
    [request], rejected = build([lead()])
    assert rejected == []
    assert (request.method, request.url) == ("PUT", f"{ROOT}/members/{HASH}")
    assert auth(request) == f"anystring:{KEY}"
    assert request.body == {"email_address": EMAIL, "status_if_new": "pending"}
    event = request.then({"id": HASH})
    assert (event.method, event.url) == ("POST", f"{ROOT}/members/{HASH}/events")
    assert event.body == {
        "name": "rebound_lead",
        "occurred_at": "2026-11-23T11:00:00+00:00",
        "properties": LEAD_PROPERTIES,
    }
    assert event.then is None  # no tags configured: two steps


def test_event_properties_are_text_only_and_the_hash_is_of_the_lowercased_email():
    [request], _ = build([purchase(value=49.5, contact={"email": "Jane.Doe@Example.com"})])
    assert request.url == f"{ROOT}/members/{HASH}"
    [_, event] = list(steps(request))
    assert event.body["name"] == "rebound_purchase"
    assert event.body["properties"]["value"] == "49.5"
    assert all(isinstance(v, str) for v in event.body["properties"].values())


def test_status_if_new_follows_the_config():
    [request], _ = build([lead()], {**SETTINGS, "status_if_new": "subscribed"})
    assert request.body["status_if_new"] == "subscribed"


def test_a_configured_tag_is_a_third_step():
    settings = {**SETTINGS, "tags": {"lead": "Rebound lead"}}
    [request], _ = build([lead()], settings)
    _, _, tag = steps(request)
    assert (tag.method, tag.url) == ("POST", f"{ROOT}/members/{HASH}/tags")
    assert tag.body == {"tags": [{"name": "Rebound lead", "status": "active"}]}
    [purchased], _ = build([purchase()], settings)
    assert len(list(steps(purchased))) == 2  # no tag for purchases


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("lead", "rebound_lead"),
        ("page_view", "rebound_clicked_link"),
        ("Trial Started", "rebound_trial_started"),
        ("démo/2", "rebound_d_mo_2"),
        ("a-very-long-custom-event-name-indeed", "rebound_a-very-long-custom-eve"),
    ],
)
def test_event_names_are_what_mailchimp_takes(kind, name):
    assert mailchimp_event_name(kind) == name
    assert 2 <= len(name) <= 30


def test_a_key_without_its_data_centre_refuses_everything_without_showing_the_key():
    requests, rejected = build([lead(), purchase()], secrets={"api_key": "S3CRETKEY"})
    assert requests == []
    assert {r.reason for r in rejected} == {"mailchimp api_key has no data-centre suffix (…-us6)"}
    assert all(not r.not_applicable for r in rejected)


def test_a_dry_run_without_a_readable_key_still_shows_the_requests():
    [request], rejected = build([lead()], secrets={"api_key": "<ssm:/rebound/dev/mc-key>"})
    assert rejected == [] and request.url.startswith("https://<dc>.api.mailchimp.com/3.0/")


def test_a_click_with_mc_eid_looks_the_member_up_then_records_clicked_link():
    click = page_view(
        click_ids=CLICK, context={"link": "go.brand.com/spring", "consent": "granted"}
    )
    [search], rejected = build([click])
    assert rejected == []
    assert search.method == "GET" and search.body is None
    assert search.url == (
        f"{ROOT}/members?unique_email_id={MC_EID}&fields=members.id%2Ctotal_items"
    )
    event = search.then(FOUND)
    assert (event.method, event.url) == ("POST", f"{ROOT}/members/{HASH}/events")
    assert event.body["name"] == "rebound_clicked_link"
    assert event.body["properties"]["link"] == "go.brand.com/spring"
    [_, shown] = list(steps(search))
    assert shown.url == f"{ROOT}/members/{MEMBER_PLACEHOLDER}/events"


def test_a_click_without_mc_eid_is_not_mailchimps():
    requests, rejected = build([page_view(click_ids={"_kx": "x"})])
    assert requests == [] and [r.not_applicable for r in rejected] == [True]


def test_every_step_shares_the_users_ten_connections():
    [request], _ = build([purchase()], {**SETTINGS, "tags": {"purchase": "buyer"}})
    paces = {id(step.pace) for step in steps(request)}
    assert len(paces) == 1
    assert request.pace is not None and request.pace._connections is not None
    held = [request.pace._connections.acquire(blocking=False) for _ in range(11)]
    assert held.count(True) == 10  # the eleventh waits for one to come back
    for _ in range(10):
        request.pace._connections.release()


# --- against a fake Mailchimp ---------------------------------------------------------------------


def test_a_purchase_reaches_the_fake_as_documented(platform):
    platform.answer(200, {"id": HASH, "status": "pending"}).answer(204, b"")
    platform.answer(200, b"")
    settings = at(platform, tags={"purchase": "buyer"})
    [request], _ = build([purchase()], settings)
    outcome, attempts = deliver(request, mc)
    assert (outcome.kind, attempts) == ("ok", 3)
    member, event, tag = platform.received
    assert [(r.method, r.path) for r in platform.received] == [
        ("PUT", f"/3.0/lists/a1b2c3d4e5/members/{HASH}"),
        ("POST", f"/3.0/lists/a1b2c3d4e5/members/{HASH}/events"),
        ("POST", f"/3.0/lists/a1b2c3d4e5/members/{HASH}/tags"),
    ]
    for got in platform.received:
        assert (
            got.header("Authorization")
            == "Basic " + base64.b64encode(f"anystring:{KEY}".encode()).decode()
        )
    assert member.json == {"email_address": EMAIL, "status_if_new": "pending"}
    assert event.json["name"] == "rebound_purchase"
    assert tag.json == {"tags": [{"name": "buyer", "status": "active"}]}


def test_a_click_reaches_the_fake_as_a_search_then_the_members_event(platform):
    platform.answer(200, FOUND).answer(204, b"")
    [request], _ = build([page_view(click_ids=CLICK)], at(platform))
    outcome, attempts = deliver(request, mc)
    assert (outcome.kind, attempts) == ("ok", 2)
    search, event = platform.received
    assert (search.method, search.path) == ("GET", "/3.0/lists/a1b2c3d4e5/members")
    assert search.query == {"unique_email_id": [MC_EID], "fields": ["members.id,total_items"]}
    assert (event.method, event.path) == ("POST", f"/3.0/lists/a1b2c3d4e5/members/{HASH}/events")


def test_a_click_whose_mc_eid_names_nobody_is_permanent_and_not_retried(platform):
    platform.answer(200, {"members": [], "total_items": 0})
    [request], _ = build([page_view(click_ids=CLICK)], at(platform))
    outcome, attempts = deliver(request, mc)
    assert (outcome.kind, outcome.reason, attempts) == ("permanent", NO_MEMBER, 1)
    assert len(platform.received) == 1


@pytest.mark.parametrize(
    ("status", "body", "headers", "waited"),
    [
        (429, {"title": "Too Many Requests", "status": 429}, {"Retry-After": "3"}, 3.0),
        (429, {"title": "Too Many Requests", "status": 429}, {}, None),
        (403, b"", {}, None),  # the throttle at high volume: a 403 without a JSON body
        (500, {"title": "Internal Server Error"}, {}, None),
        (503, b"<html>down</html>", {"Content-Type": "text/html"}, None),
    ],
)
def test_throttles_and_server_errors_are_retried(platform, status, body, headers, waited):
    platform.answer(status, body, headers).answer(200, {"id": HASH}).answer(204, b"")
    [request], _ = build([lead()], at(platform))
    sleeps: list[float] = []
    outcome, attempts = deliver(request, mc, sleeps)
    assert (outcome.kind, attempts) == ("ok", 3)
    assert sleeps == [waited] if waited else (len(sleeps) == 1 and sleeps[0] <= 0.2)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            401,
            {"title": "API Key Invalid", "status": 401, "detail": "Your API key may be invalid."},
            "HTTP 401: API Key Invalid: Your API key may be invalid.",
        ),
        (
            403,
            {"title": "Forbidden", "status": 403, "detail": "not permitted on this list"},
            "HTTP 403: Forbidden: not permitted on this list",
        ),
        (
            400,
            PROBLEM,
            f"HTTP 400: Invalid Resource: {MASKED} looks fake or invalid, "
            "please enter a real email address.",
        ),
        (
            400,
            {
                "title": "Invalid Resource",
                "detail": "The resource submitted could not be validated.",
                "errors": [{"field": "name", "message": "Event name is invalid"}],
            },
            "HTTP 400: Invalid Resource: The resource submitted could not be validated. "
            "(name: Event name is invalid)",
        ),
        (
            404,
            {"title": "Resource Not Found", "detail": "The requested resource could not be found."},
            "HTTP 404: Resource Not Found: The requested resource could not be found.",
        ),
    ],
)
def test_refusals_are_permanent_with_mailchimps_words_and_no_email(platform, status, body, reason):
    platform.answer(status, body)
    [request], _ = build([lead()], at(platform))
    outcome, attempts = deliver(request, mc)
    assert (outcome.kind, outcome.reason, attempts) == ("permanent", reason, 1)
    assert EMAIL not in outcome.reason


def test_an_echoed_key_never_reaches_a_reason(platform):
    platform.answer(401, {"title": "API Key Invalid", "detail": f"key {KEY} was revoked"})
    [request], _ = build([lead()], at(platform))
    outcome, _ = deliver(request, mc)
    assert KEY not in outcome.reason and "key *** was revoked" in outcome.reason
    assert KEY not in repr(request) and KEY not in json.dumps(request.safe_headers)
