"""The conversion record (no personal data, not even hashed) and its stream envelope."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from chalicelib.clicks.index import from_item
from chalicelib.conversions.postback import Postback
from chalicelib.conversions.record import (
    CLOCK_SKEW,
    attributable,
    build_conversion,
    unattributed_reason,
)
from chalicelib.lake.schema import CONVERSION_COLUMNS

NOW = datetime(2026, 11, 23, 12, 0, 0, 250000, tzinfo=UTC)
CLICK_ID = "01KAQ3V7R9Y2C8M4T6W0XBZDEF"
INDEX_ITEM = {
    "click_id": {"S": CLICK_ID},
    "ts": {"S": "2026-11-20T08:00:00.000Z"},
    "expires_at": {"N": "1802937600"},
    "domain": {"S": "go.example"},
    "slug": {"S": "spring-sale"},
    "campaign": {"S": "spring"},
    "tags": {"L": [{"S": "sale"}]},
    "click_ids": {"M": {"fbclid": {"S": "IwAR-AbC"}, "ScCid": {"S": "u-1"}}},
    "ip_prefix": {"S": "203.0.113.0/24"},
    "consent": {"S": "not_required"},
    "visitor_id": {"S": "v-1"},
    "platforms": {"L": [{"S": "tiktok"}, {"S": "meta"}]},
    "user_agent": {"S": "Mozilla/5.0 (original click)"},
}
USER = {"email": "Jane.Doe@Example.com", "phone": "+1 (650) 253-0000", "first_name": "Jane"}


def postback(**changes) -> Postback:
    values = {
        "event": "purchase",
        "event_id": "order-1",
        "event_time": NOW - timedelta(minutes=3),
        "value": 49.9,
        "currency": "EUR",
        "click_id": CLICK_ID,
        "client_ip_address": "198.51.100.4",
        "client_user_agent": "Mozilla/5.0 (checkout)",
        "user": USER,
    }
    values.update(changes)
    return Postback(**values)


def build(click=None, default_country=None, link_doc=None, **changes):
    return build_conversion(
        postback(**changes),
        conversion_id="C1",
        domain="go.example",
        now=NOW,
        click=click,
        default_country=default_country,
        link_doc=link_doc,
    )


def test_the_record_has_the_lake_columns_and_no_personal_data():
    record, _ = build(from_item(INDEX_ITEM))
    assert set(record) == {c.name for c in CONVERSION_COLUMNS}
    assert record == {
        "schema": 1,
        "conversion_id": "C1",
        "click_id": CLICK_ID,
        "ts": "2026-11-23T12:00:00.250Z",
        "domain": "go.example",
        "event": "purchase",
        "event_id": "order-1",
        "value": 49.9,
        "currency": "EUR",
        "attributed": True,
        "campaign": "spring",
        "slug": "spring-sale",
        "event_time": "2026-11-23T11:57:00.250Z",
        "click_ts": "2026-11-20T08:00:00.000Z",
        "platforms": ["meta", "tiktok"],
    }


def test_the_envelope_carries_the_original_click_and_only_hashes():
    _, envelope = build(from_item(INDEX_ITEM))
    assert envelope["kind"] == "conversion"
    click = envelope["click"]
    assert click["click_ids"] == {"fbclid": "IwAR-AbC", "ScCid": "u-1"}
    assert click["user_agent"] == "Mozilla/5.0 (original click)"
    assert click["ts"] == "2026-11-20T08:00:00.000Z" and click["visitor_id"] == "v-1"
    assert "ip_prefix" not in click and "tags" not in click
    assert envelope["ip"] == "198.51.100.4"
    assert envelope["user_agent"] == "Mozilla/5.0 (checkout)"
    assert set(envelope["user"]) >= {"em", "ph_e164", "ph_digits", "fn"}
    assert all(len(h) == 64 for h in envelope["user"].values())
    text = json.dumps(envelope).lower()
    assert "jane" not in text and "253" not in text


def test_the_phone_is_read_with_the_domain_default_country():
    phone = {"phone": "(650) 253-0000"}
    _, with_us = build(from_item(INDEX_ITEM), default_country="US", user=phone)
    _, without = build(from_item(INDEX_ITEM), user=phone)
    assert "ph_e164" in with_us["user"] and "ph_e164" not in without["user"]


def test_the_phone_is_read_with_the_clicks_country_before_the_domain_default():
    phone = {"phone": "020 7946 0018"}  # a London number, national format
    gb_click = from_item(dict(INDEX_ITEM, country={"S": "GB"}))
    _, from_gb = build(gb_click, default_country="US", user=phone)
    _, from_us = build(from_item(INDEX_ITEM), default_country="US", user=phone)
    assert "ph_e164" in from_gb["user"] and "ph_e164" not in from_us["user"]


def test_a_click_with_consent_denied_sends_nowhere_and_carries_nothing_personal():
    item = dict(INDEX_ITEM, consent={"S": "denied"})
    record, envelope = build(from_item(item))
    assert record["attributed"] is True and record["platforms"] == []
    assert envelope["click"]["platforms"] == []
    assert envelope["user"] == {} and envelope["ip"] is None and envelope["user_agent"] is None


def test_an_unattributed_conversion_has_no_click_and_nothing_personal():
    record, envelope = build(None)
    assert record["attributed"] is False and record["platforms"] == []
    assert record["click_id"] == CLICK_ID  # as sent, so an analyst can see what did not match
    assert record["campaign"] is None and record["click_ts"] is None
    assert envelope["click"] is None and envelope["user"] == {} and envelope["ip"] is None


def test_attribution_needs_the_same_domain_and_a_click_at_most_90_days_old():
    click = from_item(INDEX_ITEM)
    clicked = datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert attributable(click, "go.example", clicked + timedelta(days=90))
    assert not attributable(click, "go.example", clicked + timedelta(days=90, seconds=1))
    assert not attributable(click, "other.example", clicked)
    assert not attributable(None, "go.example", clicked)


def test_a_click_after_the_conversion_is_not_its_cause():
    click = from_item(INDEX_ITEM)
    clicked = datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert not attributable(click, "go.example", clicked - timedelta(hours=1))
    assert unattributed_reason(click, "go.example", clicked - timedelta(hours=1)) == (
        "the click came after the conversion"
    )


def test_clocks_may_differ_by_the_documented_skew_and_no_more():
    click = from_item(INDEX_ITEM)
    clicked = datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert timedelta(minutes=5) == CLOCK_SKEW
    assert attributable(click, "go.example", clicked)
    assert attributable(click, "go.example", clicked - CLOCK_SKEW)
    assert not attributable(click, "go.example", clicked - CLOCK_SKEW - timedelta(seconds=1))


def test_each_unattributed_conversion_says_why():
    click = from_item(INDEX_ITEM)
    clicked = datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert unattributed_reason(None, "go.example", clicked) == "no such click"
    assert unattributed_reason(click, "other.example", clicked) == "the click is on another domain"
    assert unattributed_reason(click, "go.example", clicked + timedelta(days=91)) == (
        "the click is older than the 90-day window"
    )
    assert unattributed_reason(click, "go.example", clicked + timedelta(days=1)) is None
