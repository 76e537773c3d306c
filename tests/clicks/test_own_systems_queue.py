"""Which of the merchant's own systems a click queues: an email tool only when the click names its
subscriber (Klaviyo's ``_kx``, Mailchimp's ``mc_eid``), the link's click webhooks always; never for
a bot or a denied visitor."""

from __future__ import annotations

from tests.clicks.test_event import record
from tests.redirect.factories import facts, link

EMAIL_AUDIENCES = [
    {"id": "readers", "send_to": ["meta", "klaviyo", "mailchimp", "kit", "brevo"]},
]
WEBHOOKS = [
    {"id": "crm", "events": ["click", "lead"]},
    {"id": "orders", "events": ["purchase"]},
]


def doc():
    out = link(audiences=EMAIL_AUDIENCES)
    out["webhooks"] = WEBHOOKS
    return out


def test_an_email_tool_gets_a_click_only_when_the_click_names_its_subscriber():
    click, _ = record(doc())
    assert click["platforms"] == ["meta", "webhook:crm"]
    click, _ = record(doc(), facts(query="_kx=abc.XYZ_1&mc_eid=9f8e7d"))
    assert click["platforms"] == ["klaviyo", "mailchimp", "meta", "webhook:crm"]
    assert click["click_ids"] == {"_kx": "abc.XYZ_1", "mc_eid": "9f8e7d"}  # byte for byte


def test_a_subscriber_id_is_forwarded_to_the_destination_byte_for_byte():
    from chalicelib.redirect import decide
    from tests.redirect.factories import CLICK_ID, NOW, visitor

    request = facts(query="_kx=Ab%2BcD")
    seen = visitor(request, doc()["site"])
    decision = decide(doc(), doc()["site"], request, seen, NOW, click_id=CLICK_ID)
    assert "_kx=Ab%2BcD" in decision.location


def test_a_bot_or_a_denied_visitor_queues_no_webhook_and_no_email_tool():
    click, _ = record(doc(), facts(query="_kx=abc", ua="facebookexternalhit/1.1"))
    assert click["platforms"] == []
    click, _ = record(doc(), facts(query="_kx=abc", sec_gpc="1"))
    assert click["platforms"] == []
