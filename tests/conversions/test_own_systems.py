"""A conversion's way to the merchant's own systems: the email tools of its link's audiences and
its webhooks, whatever the ad consent; the plain email only when one of them needs it."""

from __future__ import annotations

import json

from chalicelib.clicks.index import from_item
from chalicelib.conversions.record import build_conversion, event_category, own_systems
from tests.conversions import test_record as record
from tests.conversions.test_record import INDEX_ITEM, NOW, postback

LINK_DOC = {
    "spec": {
        "domain": "go.example",
        "slug": "spring-sale",
        "url": "https://shop.example/sale",
        "campaign": "spring",
        "tags": ["sale"],
        "utm": {"source": "newsletter", "medium": "email"},
    },
    "audiences": [
        {"id": "buyers", "send_to": ["meta", "klaviyo"]},
        {"id": "leads", "send_to": ["kit"]},
    ],
    "webhooks": [
        {"id": "crm", "events": ["lead", "purchase"], "personal_data": "hashed"},
        {"id": "clicks-only", "events": ["click"], "personal_data": "plain"},
    ],
}


def build(link_doc=LINK_DOC, consent="not_required", **changes):
    click = from_item(dict(INDEX_ITEM, consent={"S": consent}))
    return record.build(click, link_doc=link_doc, **changes)


def test_a_conversion_goes_to_the_ad_platforms_and_the_links_email_tools_and_webhooks():
    record, envelope = build()
    assert record["platforms"] == ["kit", "klaviyo", "meta", "tiktok", "webhook:crm"]
    assert envelope["contact"] == {"email": "jane.doe@example.com"}  # normalised
    assert envelope["context"] == {
        "link": "go.example/spring-sale",
        "campaign": "spring",
        "tags": ["sale"],
        "utm": {"source": "newsletter", "medium": "email"},
        "destination": "https://shop.example/sale",
        "audiences": ["buyers", "leads"],
        "consent": "not_required",
        "click_id": "01KAQ3V7R9Y2C8M4T6W0XBZDEF",
    }


def test_the_record_for_the_lake_never_holds_the_plain_email():
    record, _ = build()
    assert "jane" not in json.dumps(record).lower()


def test_a_denied_click_still_reaches_the_merchants_own_systems_labelled_but_no_ad_platform():
    record, envelope = build(consent="denied")
    assert record["platforms"] == ["kit", "klaviyo", "webhook:crm"]
    assert envelope["click"]["platforms"] == record["platforms"]
    assert envelope["context"]["consent"] == "denied"
    assert envelope["contact"] == {"email": "jane.doe@example.com"}


def test_without_an_email_tool_or_a_plain_webhook_no_plain_email_travels():
    doc = {**LINK_DOC, "audiences": [{"id": "buyers", "send_to": ["meta"]}]}
    record, envelope = build(doc)
    assert record["platforms"] == ["meta", "tiktok", "webhook:crm"]
    assert "contact" not in envelope
    assert envelope["user"]["em"]  # the hashed email still goes (ad platforms, hashed webhooks)


def test_a_plain_webhook_alone_makes_the_email_travel():
    doc = {
        "spec": LINK_DOC["spec"],
        "audiences": [],
        "webhooks": [{"id": "zap", "events": ["custom"], "personal_data": "plain"}],
    }
    _, envelope = build(doc, event="signup")
    assert envelope["contact"] == {"email": "jane.doe@example.com"}
    _, envelope = build(doc, event="purchase")  # the webhook does not take purchases
    assert "contact" not in envelope


def test_an_unattributed_conversion_goes_to_no_own_system():
    record, envelope = build_conversion(
        postback(), conversion_id="C1", domain="go.example", now=NOW, click=None, link_doc=LINK_DOC
    )
    assert record["platforms"] == [] and "contact" not in envelope


def test_a_postback_without_an_email_carries_no_contact():
    _, envelope = build(user={"phone": "+1 650 253 0000"})
    assert "contact" not in envelope


def test_webhooks_subscribe_to_lead_purchase_or_custom():
    assert [event_category(e) for e in ("lead", "purchase", "signup")] == [
        "lead",
        "purchase",
        "custom",
    ]
    assert own_systems(LINK_DOC, "signup") == (["kit", "klaviyo"], True)
    assert own_systems(None, "lead") == ([], False)
