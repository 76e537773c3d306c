"""The click record v1 and its stream envelope."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

import pytest

from chalicelib.clicks.event import build_click, click_envelope, fill_agent, ip_prefix, iso_millis
from chalicelib.lake.schema import CLICK_COLUMNS
from chalicelib.redirect import decide
from tests.redirect.factories import (
    CHROME,
    CLICK_ID,
    NOW,
    SAFARI_IPHONE,
    facts,
    link,
    site,
    visitor,
)

AUDIENCES = [
    {"id": "pricing-visitors", "send_to": ["tiktok", "meta"]},
    {"id": "b2b", "send_to": ["linkedin", "meta"]},
]


def record(doc=None, request=None, site_doc=None, *, found=True):
    if found and doc is None:
        doc = link(audiences=AUDIENCES, utm={"source": "newsletter"}, track_conversions=True)
    site_doc = site_doc if site_doc is not None else (doc["site"] if doc else site())
    request = request or facts()
    seen = visitor(request, site_doc)
    decision = decide(doc, site_doc, request, seen, NOW, click_id=CLICK_ID)
    return build_click(decision, request, seen, doc, click_id=CLICK_ID, now=NOW), request


# The lake's column list is the contract (docs/clicks.md, the Athena DDL): same names, same order.
FIELDS = [column.name for column in CLICK_COLUMNS]


def test_a_click_record_has_every_v1_field():
    click, request = record(
        request=facts(
            query="fbclid=IwAR2xYz_-AbC&utm_medium=social",
            cloudfront_viewer_country="US",
            accept_language="en-US",
            referer="https://l.facebook.com/x",
            cookie="rb_vid=0123456789abcdef0123456789abcdef",
        )
    )
    assert list(click) == FIELDS
    assert click == {
        "schema": 1,
        "click_id": CLICK_ID,
        "ts": "2026-11-15T12:00:00.123Z",
        "domain": "go.example",
        "slug": "spring-sale",
        "campaign": "spring",
        "tags": ["sale", "pricing"],
        "rule": "default",
        "status": 302,
        "destination": "https://shop.example/sale?utm_source=newsletter&fbclid=IwAR2xYz_-AbC"
        f"&rb_cid={CLICK_ID}",
        "visitor_id": "0123456789abcdef0123456789abcdef",
        "is_bot": False,
        "bot_name": None,
        "country": "US",
        "device": None,  # no rule needed them: the archiver fills them in (below)
        "os": None,
        "browser": None,
        "language": "en-US",
        "referrer_host": "l.facebook.com",
        "utm_source": "newsletter",
        "utm_medium": "social",
        "utm_campaign": None,
        "utm_term": None,
        "utm_content": None,
        "click_ids": {"fbclid": "IwAR2xYz_-AbC"},
        "consent": "not_required",
        "ip_prefix": "203.0.113.0/24",
        "ua_hash": hashlib.sha256(CHROME.encode()).hexdigest(),
        "platforms": ["meta", "tiktok"],
    }
    json.dumps(click)  # plain JSON values only
    fill_agent(click, click_envelope(click, request))
    assert (click["device"], click["os"], click["browser"]) == ("desktop", "Windows", "Chrome")
    assert list(click) == FIELDS


def test_a_link_whose_rules_asked_for_the_device_records_it_and_the_archiver_keeps_it():
    doc = link(rules=[{"when": {"os": ["iOS"]}, "url": "https://apps.apple.com/app/id1"}])
    click, request = record(doc, request=facts(ua=SAFARI_IPHONE))
    assert (click["rule"], click["device"], click["os"]) == ("rule:0", "mobile", "iOS")
    envelope = click_envelope(click, request)
    envelope["user_agent"] = CHROME  # would say desktop: not parsed again
    fill_agent(click, envelope)
    assert (click["device"], click["os"], click["browser"]) == ("mobile", "iOS", "Mobile Safari")


def test_cloudfront_device_headers_travel_in_the_envelope_and_decide_the_device():
    click, request = record(request=facts(ua=SAFARI_IPHONE, cloudfront_is_tablet_viewer="true"))
    envelope = click_envelope(click, request)
    assert envelope["device_hints"] == {"cloudfront-is-tablet-viewer": "true"}
    fill_agent(click, envelope)
    assert (click["device"], click["os"]) == ("tablet", "iOS")
    assert "device_hints" not in click_envelope(*record())


@pytest.mark.parametrize(
    "envelope",
    [
        {},
        {"user_agent": None},
        {"user_agent": 42, "device_hints": "tablet"},
        {"user_agent": "", "device_hints": {"cloudfront-is-tablet-viewer": 1, "x-other": "true"}},
    ],
)
def test_a_malformed_envelope_gives_an_unknown_desktop_instead_of_failing(envelope):
    click = {"device": None, "os": None, "browser": None}
    fill_agent(click, envelope)
    assert click == {"device": "desktop", "os": None, "browser": None}


def test_linkedin_is_queued_only_with_li_fat_id():
    click, _ = record(request=facts(query="li_fat_id=abc-123"))
    assert click["platforms"] == ["linkedin", "meta", "tiktok"]
    assert click["click_ids"] == {"li_fat_id": "abc-123"}


def test_bots_queue_no_platform_event():
    click, _ = record(request=facts(ua="facebookexternalhit/1.1"))
    assert (click["is_bot"], click["bot_name"], click["platforms"]) == (
        True,
        "facebookexternalhit",
        [],
    )


def test_denied_consent_queues_no_platform_event_and_drops_the_ip_from_the_envelope():
    click, request = record(request=facts(sec_gpc="1"))
    assert (click["consent"], click["platforms"]) == ("denied", [])
    envelope = click_envelope(click, request)
    assert envelope["ip"] is None
    assert click["ip_prefix"] == "203.0.113.0/24"


def test_the_envelope_carries_the_full_ip_and_user_agent_beside_the_record():
    click, request = record()
    envelope = click_envelope(click, request)
    assert envelope == {"kind": "click", "click": click, "ip": "203.0.113.7", "user_agent": CHROME}
    assert "203.0.113.7" not in json.dumps(click)


def test_an_orphan_slug_is_recorded_with_the_slug_as_requested():
    click, _ = record(request=facts("/No-Such-Link"), found=False)
    assert (click["slug"], click["rule"], click["status"]) == ("No-Such-Link", "not_found", 302)
    assert (click["campaign"], click["tags"], click["platforms"]) == (None, [], [])


def test_the_root_is_recorded_with_an_empty_slug():
    click, _ = record(request=facts("/"), site_doc=site(root_url=None), found=False)
    assert (click["slug"], click["rule"], click["status"], click["destination"]) == (
        "",
        "root",
        404,
        None,
    )


def test_an_invalid_slug_is_recorded_as_an_empty_slug():
    click, _ = record(request=facts("/bad%20slug"), found=False)
    assert (click["slug"], click["rule"]) == ("", "not_found")


def test_an_unknown_domain_is_not_recorded():
    request = facts(host="nobody.example")
    seen = visitor(request, None)
    decision = decide(None, None, request, seen, NOW)
    assert build_click(decision, request, seen, None, click_id=CLICK_ID, now=NOW) is None


def test_a_not_started_link_queues_no_platform_event():
    doc = link(audiences=AUDIENCES, starts_at="2027-01-01T00:00:00Z")
    click, _ = record(doc)
    assert (click["rule"], click["platforms"]) == ("not_started", [])


def test_an_expired_link_still_feeds_its_audiences():
    doc = link(audiences=AUDIENCES, expires_at="2026-01-01T00:00:00Z")
    click, _ = record(doc)
    assert (click["rule"], click["status"], click["platforms"]) == (
        "expired",
        410,
        ["meta", "tiktok"],
    )


def test_the_canonical_slug_is_recorded_for_a_link_matched_case_insensitively():
    click, _ = record(request=facts("/SPRING-sale"))
    assert click["slug"] == "spring-sale"


def test_no_user_agent_means_no_ua_hash():
    click, _ = record(request=facts(ua=None))
    assert (click["ua_hash"], click["bot_name"]) == (None, "no-user-agent")


@pytest.mark.parametrize(
    ("ip", "prefix"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_ip_prefix_keeps_a_24_or_48_and_never_the_address(ip, prefix):
    assert ip_prefix(ip) == prefix


def test_ts_is_utc_with_milliseconds():
    from datetime import datetime, timedelta, timezone

    local = datetime(2026, 11, 15, 13, 0, 0, 9999, tzinfo=timezone(timedelta(hours=1)))
    assert iso_millis(local) == "2026-11-15T12:00:00.009Z"


# --- No raw email or phone at rest (DESIGN §7) ---------------------------------------------------

FORWARDING = {"forward_query": True, "utm": {"source": "newsletter"}, "track_conversions": True}


def test_the_recorded_destination_never_keeps_the_visitors_forwarded_values():
    doc = link(audiences=AUDIENCES, **FORWARDING)
    request = facts(query="email=jane%40example.com&phone=%2B4915123456789&gclid=Cj0K&ref=tw")
    click, _ = record(doc, request)
    assert click["destination"] == (
        f"https://shop.example/sale?utm_source=newsletter&gclid=Cj0K&rb_cid={CLICK_ID}"
    )
    seen = visitor(request, doc["site"])
    location = decide(doc, doc["site"], request, seen, NOW, click_id=CLICK_ID).location
    assert "email=jane%40example.com" in location and "ref=tw" in location  # the visitor's own


def test_the_recorded_destination_keeps_the_links_own_query_and_fragment():
    doc = link(url="https://shop.example/sale?coupon=SPRING#top", **FORWARDING)
    click, _ = record(doc, facts(query="coupon=MINE&x=1"))
    assert click["destination"] == (
        f"https://shop.example/sale?coupon=SPRING&utm_source=newsletter&rb_cid={CLICK_ID}#top"
    )


@pytest.mark.parametrize(
    "value",
    ["jane@example.com", "Jane.Doe+promo@mail.example.co.uk", "+49 151 23456789", "015123456789",
     "(212) 555-1234", "call +1 212 555 1234"],
)  # fmt: skip
def test_email_or_phone_shaped_utm_values_are_redacted_in_the_record(value):
    for field in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
        click, _ = record(link(forward_query=True), facts(query=[(field, value)]))
        assert click[field] == "<redacted>", (field, value)
        assert value not in json.dumps(click, ensure_ascii=False)


@pytest.mark.parametrize(
    "value", ["newsletter", "spring-2026", "120211234567890", "17123456789", "2026-11-23", "ad 42"]
)
def test_ordinary_utm_values_and_numeric_ids_are_kept(value):
    click, _ = record(link(forward_query=True), facts(query=[("utm_content", value)]))
    assert click["utm_content"] == value


def test_a_phone_shaped_orphan_slug_is_redacted():
    click, _ = record(request=facts("/015123456789"), found=False)
    assert (click["slug"], click["rule"]) == ("<redacted>", "not_found")


@pytest.mark.parametrize("value", ["jane@example.com", "+4915123456789"])
def test_a_contact_typed_into_a_click_id_is_forwarded_but_never_kept(value):
    doc = link(audiences=AUDIENCES, **FORWARDING)
    request = facts(query=f"fbclid={quote(value)}&gclid=Cj0KCQiA1234567")
    click, _ = record(doc, request)
    assert click["click_ids"] == {"fbclid": "<redacted>", "gclid": "Cj0KCQiA1234567"}
    assert quote(value) not in click["destination"] and value not in click["destination"]
    assert "gclid=Cj0KCQiA1234567" in click["destination"]
    seen = visitor(request, doc["site"])
    location = decide(doc, doc["site"], request, seen, NOW, click_id=CLICK_ID).location
    assert f"fbclid={quote(value)}" in location  # byte for byte to the destination
