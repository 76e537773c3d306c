"""X end to end: a click with ``?twclid=`` on a link whose audience sends to ``x`` goes through
the redirect (forwarded, recorded), the stream envelope and the dispatcher (moto) to a fake X
on 127.0.0.1 that verifies the OAuth 1.0a signature; the conversion on it follows with the
hashed e-mail; a replay of either sends nothing."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks import new_click_id
from chalicelib.clicks.event import build_click, click_envelope
from chalicelib.dispatch.ledger import SENT
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from chalicelib.redirect import decide
from tests.dispatch.scenario import NOW, batch, conversion, dispatcher, key_of, ledger
from tests.redirect.factories import facts, link, site, visitor

from .x_server import SECRETS, FakeX

DOMAIN = "go.example"
TWCLID = "23opevjt88psuo13lu8d020qkn_Case-Sensitive"
X_EVENTS = {"click": "o87ne", "lead": "o87nf", "purchase": "o87ng"}


@pytest.fixture
def fake_x():
    server = FakeX().start()
    yield server
    server.stop()


def configure_x(fake) -> None:
    ssm = client("ssm")
    refs = {}
    for name, value in SECRETS.items():
        ssm.put_parameter(Name=f"/t/x/{name}", Value=value, Type="SecureString", Overwrite=True)
        refs[name] = f"ssm:/t/x/{name}"
    specs = Specs(
        domains=[{"name": DOMAIN, "consent": {"require_in": ["EU"]}}],
        platforms={"x": {"pixel_id": "o8z6j", "events": X_EVENTS, "endpoint": fake.url, **refs}},
    )
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    store.write(make_plan(specs, store.read_all()).writes())


def a_click_through_the_redirect() -> dict:
    """The envelope the redirect publishes for ``/spring-sale?twclid=...`` on a link in an
    audience that sends to x."""
    doc = link(audiences=[{"id": "x-visitors", "send_to": ["x"]}], forward_query=False)
    request = facts(query=[("twclid", TWCLID), ("ref", "ad")], host=DOMAIN)
    who = visitor(request, site())
    click_id = new_click_id(NOW)
    decision = decide(doc, doc["site"], request, who, NOW, click_id=click_id)
    # Forwarded byte for byte even without forward_query; the other parameter stays behind.
    assert parse_qsl(urlsplit(decision.location or "").query) == [("twclid", TWCLID)]
    record = build_click(decision, request, who, doc, click_id=click_id, now=NOW)
    assert record is not None
    assert record["click_ids"] == {"twclid": TWCLID} and record["platforms"] == ["x"]
    return click_envelope(record, request)


def test_a_twclid_click_then_its_conversion_reach_x_signed_and_a_replay_sends_nothing(aws, fake_x):
    configure_x(fake_x)
    run = dispatcher(allow_endpoints=True)
    click = a_click_through_the_redirect()

    assert run.handle(batch(click)) == {"batchItemFailures": []}
    [first] = fake_x.received
    assert first.verified, first.problem
    [sent] = first.json["conversions"]
    assert sent["event_id"] == "o87ne"
    assert sent["conversion_id"] == click["click"]["click_id"]
    assert sent["identifiers"][0] == {"twclid": TWCLID}
    assert ledger().status(key_of("x", click)) == SENT

    purchase = conversion(click, domain=DOMAIN)
    assert run.handle(batch(purchase, first_seq=2000)) == {"batchItemFailures": []}
    [_, second] = fake_x.received
    assert second.verified, second.problem
    [bought] = second.json["conversions"]
    assert bought["event_id"] == "o87ng" and bought["conversion_id"] == "order-1001"
    assert {"hashed_email": purchase["user"]["em"]} in bought["identifiers"]
    assert {"twclid": TWCLID} in bought["identifiers"]
    assert (bought["value"], bought["price_currency"]) == (49.5, "EUR")

    # Lambda replays both records: the ledger knows them, X hears nothing more.
    assert run.handle(batch(click, purchase)) == {"batchItemFailures": []}
    assert len(fake_x.received) == 2
