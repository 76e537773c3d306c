"""X (Twitter) Conversions API: the exact conversions, what is refused before batching, the
OAuth 1.0a signature as a fake X verifies it, and how X's answers are read."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest

from chalicelib.config.model import Platforms
from chalicelib.dispatch.sinks import DryRunRecorder
from chalicelib.links.pixels import PIXELS, pixels_for
from chalicelib.platforms.http import send_with_retries
from chalicelib.platforms.x import PLATFORM as x
from chalicelib.platforms.x import conversion_time, oauth_header
from chalicelib.redirect.interstitial import render

from .conftest import NOW, make_event, page_view
from .x_server import (
    ACCESS_TOKEN,
    ACCESS_TOKEN_SECRET,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    SECRETS,
    FakeX,
)

ROOT = Path(__file__).resolve().parents[2]
TWCLID = "23opevjt88psuo13lu8d020qkn_Case-Sensitive"
SETTINGS = {"pixel_id": "o8z6j", "events": {"click": "o87ne", "lead": "o87nf", "purchase": "o87ng"}}
EMAIL = hashlib.sha256(b"jane@example.com").hexdigest()
PHONE = hashlib.sha256(b"+14155550100").hexdigest()
IP = "203.0.113.7"
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"


@pytest.fixture
def fake_x():
    server = FakeX().start()
    yield server
    server.stop()


def build(events, settings=SETTINGS, secrets=SECRETS):
    return x.build_requests(events, settings, secrets, NOW)


def at(server: FakeX) -> dict:
    return {**SETTINGS, "endpoint": server.url}


def deliver(request, sleeps: list[float] | None = None, attempts: int = 4):
    sleep = sleeps.append if sleeps is not None else (lambda _s: None)
    return send_with_retries(request, x.classify, attempts=attempts, sleep=sleep, timeout=5)


# --- what is sent -------------------------------------------------------------------------------


def test_a_click_with_twclid_is_one_conversion_of_the_click_event_keyed_by_the_click_id():
    click = page_view(click_ids={"twclid": TWCLID}, ip=IP, user_agent=UA)
    [request], rejected = build([click])
    assert rejected == []
    assert request.url == "https://ads-api.x.com/12/measurement/conversions/o8z6j"
    assert request.method == "POST" and request.event_ids == (click.event_id,)
    assert json.loads(request.data()) == {
        "conversions": [
            {
                "conversion_time": "2026-11-23T11:59:00.000Z",
                "event_id": "o87ne",
                "identifiers": [{"twclid": TWCLID}, {"ip_address": IP}, {"user_agent": UA}],
                "conversion_id": click.event_id,  # the pixel's conversion_id: X dedups on it
            }
        ]
    }


def test_a_purchase_carries_hashed_email_and_phone_value_and_currency():
    purchase = make_event(
        user={"em": EMAIL, "ph_e164": PHONE, "ph_digits": "not-this-one"},
        click_ids={"twclid": TWCLID},
        value=49.5,
        currency="eur",
    )
    [request], _ = build([purchase])
    [conversion] = json.loads(request.data())["conversions"]
    assert conversion == {
        "conversion_time": "2026-11-23T11:00:00.000Z",
        "event_id": "o87ng",
        "identifiers": [
            {"twclid": TWCLID},
            {"hashed_email": EMAIL},
            {"hashed_phone_number": PHONE},  # the E.164 variant (with +), per X
            {"ip_address": IP},
            {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"},
        ],
        "conversion_id": "order-1001",
        "value": 49.5,
        "price_currency": "EUR",
    }


def test_a_lead_without_value_sends_no_price():
    lead = make_event(kind="lead", event_id="lead-7", user={"em": EMAIL}, value=None, currency=None)
    [request], _ = build([lead])
    [conversion] = json.loads(request.data())["conversions"]
    assert conversion["event_id"] == "o87nf"
    assert "value" not in conversion and "price_currency" not in conversion


def test_ip_and_user_agent_only_beside_another_identifier():
    anonymous = make_event(event_id="anon", ip=IP, user_agent=UA)
    requests, rejected = build([anonymous])
    assert requests == []
    assert [(r.event_id, r.not_applicable) for r in rejected] == [("anon", False)]
    assert "no identifier X can match on" in rejected[0].reason


def test_a_click_without_twclid_is_simply_not_for_x():
    requests, rejected = build([page_view(ip=IP, user_agent=UA)])
    assert requests == []
    assert [(r.reason, r.not_applicable) for r in rejected] == [("click without twclid", True)]


def test_a_kind_without_an_x_event_is_not_for_x_and_the_rest_still_goes():
    settings = {**SETTINGS, "events": {"purchase": "o87ng"}}
    click = page_view(event_id="c1", click_ids={"twclid": TWCLID})
    custom = make_event(kind="subscribe", event_id="s1", user={"em": EMAIL})
    purchase = make_event(event_id="p1", user={"em": EMAIL})
    requests, rejected = build([click, custom, purchase], settings)
    assert [(r.event_id, r.reason, r.not_applicable) for r in rejected] == [
        ("c1", "no X event configured for page_view", True),
        ("s1", "no X event configured for subscribe", True),
    ]
    assert [r.event_ids for r in requests] == [("p1",)]


def test_one_bad_conversion_is_refused_before_batching_and_does_not_sink_the_others():
    good = [make_event(event_id=f"ok-{i}", user={"em": EMAIL}) for i in range(3)]
    bad_currency = make_event(event_id="bad", user={"em": EMAIL}, currency="EURO")
    old = make_event(event_id="old", user={"em": EMAIL}, event_time=NOW - timedelta(days=8))
    requests, rejected = build([good[0], bad_currency, good[1], old, good[2]])
    assert [(r.event_id, r.reason) for r in rejected] == [
        ("bad", "price_currency must be an ISO 4217 code"),
        ("old", "event_time is older than 7 days"),
    ]
    assert [r.event_ids for r in requests] == [("ok-0", "ok-1", "ok-2")]


def test_at_most_500_conversions_a_request():
    events = [make_event(event_id=f"o-{i}", user={"em": EMAIL}) for i in range(1001)]
    requests, _ = build(events)
    assert [len(r.event_ids) for r in requests] == [500, 500, 1]
    assert [len(json.loads(r.data())["conversions"]) for r in requests] == [500, 500, 1]


def test_a_missing_credential_refuses_everything_by_name_only():
    secrets = {k: v for k, v in SECRETS.items() if k != "access_token_secret"}
    requests, rejected = build([make_event(user={"em": EMAIL})], secrets=secrets)
    assert requests == []
    assert [r.reason for r in rejected] == [
        "x is not configured: missing access_token_secret (secret)"
    ]


def test_conversion_time_is_iso_8601_utc_with_milliseconds():
    assert conversion_time(NOW + timedelta(microseconds=603999)) == "2026-11-23T12:00:00.603Z"


# --- the signature ------------------------------------------------------------------------------


def test_the_fake_x_accepts_the_signed_request_and_gets_the_twclid(fake_x):
    [request], _ = build([page_view(click_ids={"twclid": TWCLID})], at(fake_x))
    outcome, attempts = deliver(request)
    assert (outcome.kind, outcome.reason, attempts) == ("ok", "conversions_processed=1", 1)
    [got] = fake_x.received
    assert got.verified, got.problem
    assert got.path == "/12/measurement/conversions/o8z6j"
    assert got.oauth["oauth_consumer_key"] == CONSUMER_KEY
    assert got.oauth["oauth_token"] == ACCESS_TOKEN
    assert got.oauth["oauth_signature_method"] == "HMAC-SHA1"
    assert got.headers["content-type"] == "application/json"
    assert fake_x.conversions[0]["identifiers"][0] == {"twclid": TWCLID}


def test_the_body_is_not_signed(fake_x):
    """X's base string has no body: oauthlib must not add an oauth_body_hash for the JSON."""
    header = oauth_header(f"{fake_x.url}/12/measurement/conversions/o8z6j", creds())
    assert "oauth_body_hash" not in header and header.startswith("OAuth ")


def test_a_wrong_secret_is_refused_by_x_and_is_permanent(fake_x):
    secrets = {**SECRETS, "consumer_secret": "not-the-right-one"}
    [request], _ = build([make_event(user={"em": EMAIL})], at(fake_x), secrets)
    outcome, attempts = deliver(request)
    assert (outcome.kind, attempts) == ("permanent", 1)
    assert (
        outcome.reason == "HTTP 401: UNAUTHORIZED_ACCESS This request is not properly authenticated"
    )
    assert fake_x.received[0].problem == "signature mismatch"


def test_each_try_is_signed_anew_so_a_retry_is_not_a_replayed_nonce(fake_x):
    fake_x.answer(503, {"errors": [{"code": "SERVICE_UNAVAILABLE", "message": "Over capacity"}]})
    [request], _ = build([make_event(user={"em": EMAIL})], at(fake_x))
    outcome, attempts = deliver(request)
    assert (outcome.kind, attempts) == ("ok", 2)
    first, second = fake_x.received
    assert first.verified and second.verified
    assert first.oauth["oauth_nonce"] != second.oauth["oauth_nonce"]
    assert first.raw == second.raw  # the same conversions, signed twice


def test_the_same_signed_header_twice_is_refused_as_x_refuses_a_replay(fake_x):
    """The fake holds X's rule (which is why each try is signed anew)."""
    import urllib.error
    import urllib.request

    url = f"{fake_x.url}/12/measurement/conversions/o8z6j"
    header = oauth_header(url, creds())
    statuses = []
    for _ in range(2):
        req = urllib.request.Request(
            url,
            data=b'{"conversions":[]}',
            headers={"Authorization": header, "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                statuses.append(resp.status)
        except urllib.error.HTTPError as err:
            statuses.append(err.code)
    assert statuses == [200, 401]
    assert fake_x.received[1].problem == "nonce used before"


# --- X's answers ------------------------------------------------------------------------------


def test_429_with_retry_after_waits_as_asked_then_succeeds(fake_x):
    fake_x.answer(
        429,
        {"errors": [{"code": "TOO_MANY_REQUESTS", "message": "Rate limit exceeded"}]},
        Retry_After="3",
    )
    [request], _ = build([make_event(user={"em": EMAIL})], at(fake_x))
    sleeps: list[float] = []
    outcome, attempts = deliver(request, sleeps)
    assert (outcome.kind, attempts) == ("ok", 2)
    assert sleeps and sleeps[0] >= 3.0  # X's wait, not only the backoff


def test_429_without_retry_after_is_retried_with_backoff_then_gives_up(fake_x):
    for _ in range(3):
        fake_x.answer(
            429, {"errors": [{"code": "TOO_MANY_REQUESTS", "message": "Rate limit exceeded"}]}
        )
    [request], _ = build([make_event(user={"em": EMAIL})], at(fake_x))
    sleeps: list[float] = []
    outcome, attempts = deliver(request, sleeps, attempts=3)
    assert (outcome.kind, attempts) == ("retry", 3)
    assert outcome.reason == "HTTP 429: TOO_MANY_REQUESTS Rate limit exceeded"
    assert len(sleeps) == 2 and all(0 <= s <= 5.0 for s in sleeps)
    assert all(r.verified for r in fake_x.received)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried(fake_x, status):
    fake_x.answer(status, b"<html>down</html>")
    [request], _ = build([make_event(user={"em": EMAIL})], at(fake_x))
    outcome, attempts = deliver(request)
    assert (outcome.kind, attempts) == ("ok", 2)


def test_400_lists_every_error_and_is_permanent_with_the_first(fake_x):
    fake_x.answer(
        400,
        {
            "errors": [
                {
                    "code": "INVALID_PARAMETER",
                    "message": "Hashed_email is not a valid SHA-256 hash",
                    "parameter": "hashed_email",
                },
                {"code": "INVALID_PARAMETER", "message": "Conversion count limit is 500"},
            ],
            "request": {"params": {}},
        },
    )
    [request], _ = build([make_event(user={"em": EMAIL})], at(fake_x))
    outcome, attempts = deliver(request)
    assert (outcome.kind, attempts) == ("permanent", 1)
    assert outcome.reason == (
        "HTTP 400: INVALID_PARAMETER Hashed_email is not a valid SHA-256 hash (and 1 more)"
    )


@pytest.mark.parametrize(
    ("status", "body", "kind", "reason"),
    [
        (200, {"data": {"conversions_processed": 3}}, "ok", "conversions_processed=3"),
        (200, b"", "ok", ""),
        (
            401,
            {"errors": [{"code": "UNAUTHORIZED_ACCESS", "message": "no"}]},
            "permanent",
            "HTTP 401: UNAUTHORIZED_ACCESS no",
        ),
        (
            403,
            {
                "errors": [
                    {"code": "UNAUTHORIZED_CLIENT_APPLICATION", "message": "no Ads API access"}
                ]
            },
            "permanent",
            "HTTP 403: UNAUTHORIZED_CLIENT_APPLICATION no Ads API access",
        ),
        (404, b"", "permanent", "HTTP 404"),
        (429, b"", "retry", "HTTP 429"),
        (503, b"not json", "retry", "HTTP 503"),
    ],
)
def test_classify(status, body, kind, reason):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    outcome = x.classify(status, data)
    assert (outcome.kind, outcome.reason) == (kind, reason)


# --- credentials never shown ---------------------------------------------------------------------


def creds():
    from chalicelib.platforms.x import Credentials

    return Credentials.of(SECRETS)


def test_credentials_are_never_shown_nor_recorded():
    [request], _ = build([make_event(user={"em": EMAIL}, click_ids={"twclid": TWCLID})])
    shown = " ".join([str(request), repr(request), repr(request.headers), repr(creds())])
    assert request.headers["Authorization"].startswith("OAuth ")
    for secret in SECRETS.values():
        assert secret not in shown
        assert secret not in request.data().decode()

    class S3:
        objects: dict = {}

        def put_object(self, Bucket, Key, Body, **_):
            self.objects[Key] = Body

    s3 = S3()
    DryRunRecorder(s3, "lake").record("x", request, NOW)
    text = b"".join(s3.objects.values()).decode()
    for secret in (CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_TOKEN_SECRET):
        assert secret not in text
    assert TWCLID in text and IP not in text


def test_oauthlib_is_loaded_only_when_a_request_is_signed():
    program = (
        "import sys, chalicelib.platforms.x, chalicelib.links.pixels, chalicelib.redirect;"
        "print('oauthlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --- config and the browser pixel ----------------------------------------------------------------

REFS = {
    "consumer_key": "ssm:/rebound/dev/x-consumer-key",
    "consumer_secret": "ssm:/rebound/dev/x-consumer-secret",
    "access_token": "ssm:/rebound/dev/x-access-token",
    "access_token_secret": "ssm:/rebound/dev/x-access-token-secret",
}


def test_the_config_takes_pixel_events_and_four_secret_references():
    platforms = Platforms.model_validate({"x": {**SETTINGS, **REFS}})
    assert platforms.x is not None and platforms.x.events.click == "o87ne"


@pytest.mark.parametrize(
    "change",
    [
        {"events": {}},
        {"events": {"signup": "o87nx"}},
        {"consumer_secret": "plain-text-secret"},
        {"access_token_secret": None},
    ],
)
def test_the_config_refuses_what_x_cannot_use(change):
    entry = {**SETTINGS, **REFS, **change}
    entry = {k: v for k, v in entry.items() if v is not None}
    with pytest.raises(ValueError):
        Platforms.model_validate({"x": entry})


def test_the_pixel_page_loads_the_x_pixel_with_the_click_event_and_id():
    ids = pixels_for({"x": {**SETTINGS, **REFS}}, ["x"])
    assert ids == {"x": {"pixel_id": "o8z6j", "event": "tw-o8z6j-o87ne"}}
    assert "secret" not in json.dumps(ids)
    page = render("https://shop.example/", "01JCLICK0000000000000000AB", ids, nonce="n")
    assert "https://static.ads-twitter.com/uwt.js" in page.body
    assert "twq('event',p.x.event,{conversion_id:id})" in page.body
    csp = page.content_security_policy
    assert "https://static.ads-twitter.com" in csp and "https://analytics.twitter.com" in csp
    assert PIXELS["x"].label == "X"


def test_no_click_event_configured_loads_the_base_pixel_only():
    assert pixels_for({"x": {**SETTINGS, "events": {"purchase": "o87ng"}}}, ["x"]) == {
        "x": {"pixel_id": "o8z6j"}
    }
    assert pixels_for({"x": {**SETTINGS, "events": {"click": "tw-o8z6j-o87ne"}}}, ["x"]) == {
        "x": {"pixel_id": "o8z6j", "event": "tw-o8z6j-o87ne"}
    }


def test_the_dispatcher_can_send_it_via_the_shared_transport(fake_x):
    """The shared send path (what the dispatcher calls) reads the headers once per try."""
    [request], _ = build([make_event(user={"em": EMAIL})], at(fake_x))
    send = partial(send_with_retries, sleep=lambda _s: None, timeout=5)
    outcome, _ = send(request, x.classify)
    assert outcome.ok and fake_x.received[0].verified
