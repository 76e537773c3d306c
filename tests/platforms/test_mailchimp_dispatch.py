"""Mailchimp end to end: a click with ``?mc_eid=`` on a link whose audience sends to ``mailchimp``
goes through the redirect (forwarded, recorded), the stream envelope and the dispatcher (moto)
to a fake Mailchimp on 127.0.0.1 as the member's search then its clicked-link event; the lead on
it follows as the member, its event and its tag; a replay sends nothing; an mc_eid that names
nobody is dead-lettered as permanent, once."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlsplit

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks import new_click_id
from chalicelib.clicks.event import build_click, click_envelope
from chalicelib.dispatch.ledger import SENT
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from chalicelib.platforms.mailchimp import NO_MEMBER
from chalicelib.redirect import decide
from tests.dispatch.scenario import (
    NOW,
    batch,
    conversion,
    dispatcher,
    dlq_messages,
    key_of,
    ledger,
)
from tests.redirect.factories import facts, link, site, visitor

DOMAIN = "go.example"
MC_EID = "6254e6d91a"
EMAIL = "jane@example.com"
KEY = "0123456789abcdef0123456789abcdef-us6"
HASH = hashlib.md5(EMAIL.encode(), usedforsecurity=False).hexdigest()  # the member id
LIST = "/3.0/lists/a1b2c3d4e5"


def configure_mailchimp(fake) -> None:
    client("ssm").put_parameter(Name="/t/mc/key", Value=KEY, Type="SecureString", Overwrite=True)
    mailchimp = {
        "api_key": "ssm:/t/mc/key",
        "list_id": "a1b2c3d4e5",
        "tags": {"purchase": "Rebound buyer"},
        "endpoint": f"{fake.url}/3.0",
    }
    specs = Specs(domains=[{"name": DOMAIN}], platforms={"mailchimp": mailchimp})
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    store.write(make_plan(specs, store.read_all()).writes())


def a_click_from_a_mailchimp_email() -> dict:
    doc = link(audiences=[{"id": "readers", "send_to": ["mailchimp"]}], forward_query=False)
    request = facts(query=[("mc_eid", MC_EID), ("mc_cid", "c1")], host=DOMAIN)
    who = visitor(request, site())
    click_id = new_click_id(NOW)
    decision = decide(doc, doc["site"], request, who, NOW, click_id=click_id)
    assert ("mc_eid", MC_EID) in parse_qsl(urlsplit(decision.location or "").query)
    record = build_click(decision, request, who, doc, click_id=click_id, now=NOW)
    assert record is not None
    assert record["click_ids"] == {"mc_eid": MC_EID} and record["platforms"] == ["mailchimp"]
    return click_envelope(record, request)


def a_purchase_on(click: dict) -> dict:
    envelope = conversion(click, domain=DOMAIN, event_time="2026-11-23T11:59:00.000Z")
    envelope["contact"] = {"email": EMAIL}
    envelope["context"] = {"link": f"{DOMAIN}/spring-sale", "campaign": "spring"}
    return envelope


def test_an_mc_eid_click_then_its_purchase_reach_mailchimp_once(aws, platform):
    configure_mailchimp(platform)
    platform.answer(200, {"members": [{"id": HASH}], "total_items": 1}).answer(204, b"")
    run = dispatcher(allow_endpoints=True)
    click = a_click_from_a_mailchimp_email()

    assert run.handle(batch(click)) == {"batchItemFailures": []}
    search, clicked = platform.received
    assert (search.method, search.path) == ("GET", f"{LIST}/members")
    assert search.query["unique_email_id"] == [MC_EID]
    assert (clicked.method, clicked.path) == ("POST", f"{LIST}/members/{HASH}/events")
    assert clicked.json["name"] == "rebound_clicked_link"
    assert ledger().status(key_of("mailchimp", click)) == SENT

    platform.answer(200, {"id": HASH}).answer(204, b"").answer(200, b"")
    purchase = a_purchase_on(click)
    assert run.handle(batch(purchase, first_seq=2000)) == {"batchItemFailures": []}
    member, bought, tagged = platform.received[2:]
    assert (member.method, member.path) == ("PUT", f"{LIST}/members/{HASH}")
    assert member.json == {"email_address": EMAIL, "status_if_new": "pending"}
    assert bought.json["name"] == "rebound_purchase"
    assert bought.json["properties"]["rebound_event_id"] == "order-1001"
    assert tagged.json == {"tags": [{"name": "Rebound buyer", "status": "active"}]}
    assert ledger().status(key_of("mailchimp", purchase)) == SENT

    assert run.handle(batch(click, purchase)) == {"batchItemFailures": []}
    assert len(platform.received) == 5  # a replay: nothing more


def test_an_mc_eid_that_names_nobody_is_dead_lettered_once_as_permanent(aws, platform):
    configure_mailchimp(platform)
    platform.answer(200, {"members": [], "total_items": 0})
    run = dispatcher(allow_endpoints=True)
    click = a_click_from_a_mailchimp_email()

    assert run.handle(batch(click)) == {"batchItemFailures": []}
    assert len(platform.received) == 1  # not retried
    [dead] = dlq_messages()
    assert (dead["platform"], dead["outcome"], dead["reason"]) == (
        "mailchimp",
        "permanent",
        NO_MEMBER,
    )
    assert run.handle(batch(click)) == {"batchItemFailures": []}
    assert len(platform.received) == 1
