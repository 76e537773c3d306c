"""Klaviyo, Omnisend, Brevo and Kit through the Dispatcher on moto: links.yaml applied (an
audience that sends to the four tools, each pointed at a fake on 127.0.0.1), a click through the
redirect's code and a signed lead with an email through the postback's. Each tool hears the lead
once (Brevo and Kit as their two-step chains), a replay sends nothing, a Kit refusal is
dead-lettered with its reason masked, and a Klaviyo ``_kx`` click is its "Rebound Clicked Link"."""

from __future__ import annotations

import pytest

from chalicelib.aws.clients import client
from chalicelib.dispatch.ledger import DEAD, SENT
from tests.dispatch.scenario import (
    apply_config,
    batch,
    dispatcher,
    dlq_messages,
    posted_back,
    redirected_click,
    status,
    stored_link,
)

from .conftest import FakePlatform

DOMAIN = "go.example"
TOOLS = ("klaviyo", "omnisend", "brevo", "kit")
KX = "eyJrbGF2aXlvIjogIjAxSCJ9.Case-Sensitive_"

CONFIG = """\
version: 1
domains:
  - name: go.example
    root_url: https://shop.example/
    consent: {{require_in: [EU]}}
platforms:
  klaviyo: {{api_key: ssm:/t/klaviyo, endpoint: "{klaviyo}", dry_run: false}}
  omnisend: {{api_key: ssm:/t/omnisend, endpoint: "{omnisend}", dry_run: false}}
  brevo: {{api_key: ssm:/t/brevo, endpoint: "{brevo}", dry_run: false}}
  kit: {{api_key: ssm:/t/kit, endpoint: "{kit}", dry_run: false, tags: {{lead: 4100001}}}}
audiences:
  - id: spring-leads
    match: {{campaigns: [spring]}}
    send_to: [klaviyo, omnisend, brevo, kit]
links:
  - domain: go.example
    slug: spring-guide
    url: https://shop.example/guide
    campaign: spring
    utm: {{source: newsletter, medium: email}}
"""


@pytest.fixture
def fakes():
    servers = {name: FakePlatform().start() for name in TOOLS}
    servers["klaviyo"].default = (202, b"")
    servers["omnisend"].default = (202, b"")
    servers["brevo"].default = (204, b"")
    servers["kit"].default = (201, b'{"subscriber": {"id": 1103}}')
    yield servers
    for server in servers.values():
        server.stop()


def apply(fakes) -> None:
    ssm = client("ssm")
    for name in TOOLS:
        ssm.put_parameter(
            Name=f"/t/{name}", Value=f"{name}-key-S3CRET", Type="SecureString", Overwrite=True
        )
    apply_config(CONFIG.format(**{name: fake.url for name, fake in fakes.items()}))


def link_doc() -> dict:
    return stored_link(DOMAIN, "spring-guide")


def a_click(query: list[tuple[str, str]] | None = None) -> dict:
    return redirected_click(DOMAIN, "spring-guide", query)


def a_lead(click: dict) -> dict:
    return posted_back(click, email=" Jane.Doe@Example.com ")


def test_a_lead_reaches_each_tool_once_with_its_email_and_a_replay_sends_nothing(aws, fakes):
    apply(fakes)
    click = a_click()
    lead = a_lead(click)
    assert set(TOOLS) <= set(lead["conversion"]["platforms"])
    assert lead["contact"] == {"email": "jane.doe@example.com"}
    run = dispatcher(allow_endpoints=True)
    assert run.handle(batch(lead)) == {"batchItemFailures": []}

    [klaviyo] = fakes["klaviyo"].received
    attributes = klaviyo.json["data"]["attributes"]
    assert attributes["profile"]["data"]["attributes"] == {"email": "jane.doe@example.com"}
    assert attributes["unique_id"] == "lead-77"
    assert attributes["properties"]["campaign"] == "spring"
    assert attributes["properties"]["utm_source"] == "newsletter"
    assert attributes["properties"]["ad_consent"] == click["click"]["consent"]

    [omnisend] = fakes["omnisend"].received
    assert omnisend.json["contact"] == {"email": "jane.doe@example.com"}
    assert omnisend.json["properties"]["rebound_event_id"] == "lead-77"

    assert [r.path for r in fakes["brevo"].received] == ["/v3/contacts", "/v3/events"]
    assert fakes["brevo"].received[1].json["event_name"] == "rebound_lead"
    assert [r.path for r in fakes["kit"].received] == [
        "/v4/subscribers",
        "/v4/tags/4100001/subscribers",
    ]
    for name in TOOLS:
        assert status(name, lead) == SENT

    # Lambda replays the record: the ledger knows it, no tool hears anything more.
    assert run.handle(batch(lead)) == {"batchItemFailures": []}
    assert [len(fakes[n].received) for n in TOOLS] == [1, 1, 2, 2]


def test_a_refused_tag_is_dead_lettered_with_kits_words_and_the_email_masked(aws, fakes):
    apply(fakes)
    lead = a_lead(a_click())
    fakes["kit"].answer(201, {"subscriber": {"id": 1103}})
    fakes["kit"].answer(422, {"errors": ["jane.doe@example.com cannot be tagged"]})
    assert dispatcher(allow_endpoints=True).handle(batch(lead)) == {"batchItemFailures": []}
    assert len(fakes["kit"].received) == 2  # a 422 is not retried
    [message] = [m for m in dlq_messages() if m["platform"] == "kit"]
    assert message["outcome"] == "permanent"
    assert message["reason"] == "HTTP 422: j***@example.com cannot be tagged"
    assert status("kit", lead) == DEAD
    assert status("klaviyo", lead) == SENT  # one tool's refusal is its own


def test_a_klaviyo_kx_click_is_a_clicked_link_event_for_that_profile(aws, fakes):
    apply(fakes)
    click = a_click([("_kx", KX)])
    assert "klaviyo" in click["click"]["platforms"]
    assert dispatcher(allow_endpoints=True).handle(batch(click)) == {"batchItemFailures": []}
    [sent] = fakes["klaviyo"].received
    attributes = sent.json["data"]["attributes"]
    assert attributes["profile"]["data"]["attributes"] == {"_kx": KX}
    assert attributes["metric"]["data"]["attributes"]["name"] == "Rebound Clicked Link"
    assert attributes["unique_id"] == click["click"]["click_id"]
    for name in ("omnisend", "brevo", "kit"):  # no subscriber id of theirs: not applicable
        assert fakes[name].received == []
