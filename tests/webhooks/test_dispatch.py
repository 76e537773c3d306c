"""Webhooks end to end on moto: links.yaml with a ``webhooks:`` entry applied to the config
table, a click through the redirect's code, a signed lead through the postback's, the Dispatcher,
and a receiver on 127.0.0.1 that verifies every delivery's signature as docs/webhooks.md says.
Never twice (a replay sends nothing), a retry keeps its Idempotency-Key, a refusal is
dead-lettered with its reason, a dry run records the delivery masked, and production refuses a
loopback target at connect time."""

from __future__ import annotations

import json

import pytest

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.dispatch.ledger import DEAD, DRY_RUN, SENT
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

from .receiver import SECRET, WebhookReceiver, validate

DOMAIN = "go.example"
HOOK = "webhook:crm"

CONFIG = """\
version: 1
domains:
  - name: go.example
    root_url: https://shop.example/
    consent: {{require_in: [EU]}}
links:
  - domain: go.example
    slug: spring-sale
    url: https://shop.example/sale
    campaign: spring
    tags: [sale]
    utm: {{source: newsletter, medium: email}}
  - domain: go.example
    slug: other
    url: https://shop.example/other
webhooks:
  - id: crm
    url: {url}/rebound
    secret: ssm:/t/webhooks/crm
    events: [click, lead]
    match: {{campaigns: [spring]}}
    personal_data: {personal_data}
    dry_run: {dry_run}
"""


@pytest.fixture
def receiver():
    fake = WebhookReceiver().start()
    yield fake
    fake.stop()


def apply(url: str, personal_data: str = "hashed", dry_run: bool = False) -> None:
    """``rebound apply`` of CONFIG, the webhook's secret in SSM."""
    client("ssm").put_parameter(
        Name="/t/webhooks/crm", Value=SECRET, Type="SecureString", Overwrite=True
    )
    apply_config(CONFIG.format(url=url, personal_data=personal_data, dry_run=str(dry_run).lower()))


def link_doc(slug: str = "spring-sale") -> dict:
    return stored_link(DOMAIN, slug)


def a_click(slug: str = "spring-sale") -> dict:
    """The envelope the redirect publishes for a human click outside the EU."""
    return redirected_click(DOMAIN, slug)


def a_lead(click: dict, event: str = "lead") -> dict:
    """The envelope the postback publishes for a signed lead with an email."""
    return posted_back(click, event=event, email=" Jane@Example.com ")


def test_a_click_and_a_lead_reach_the_receiver_signed_once_each(aws, receiver):
    apply(receiver.url)
    assert link_doc()["webhooks"] == [
        {"id": "crm", "events": ["click", "lead"], "personal_data": "hashed"}
    ]
    assert "webhooks" not in link_doc("other")  # not matched: the doc is as it was
    run = dispatcher()
    click = a_click()
    assert click["click"]["platforms"] == [HOOK]
    assert a_click("other")["click"]["platforms"] == []

    assert run.handle(batch(click)) == {"batchItemFailures": []}
    [first] = receiver.deliveries
    assert first.verified, first.problem
    validate(first.json)
    assert first.received.path == "/rebound"
    assert first.header("Rebound-Event") == "click" and first.json["type"] == "click"
    assert first.json["id"] == click["click"]["click_id"]
    assert first.json["click"]["utm"] == {"source": "newsletter", "medium": "email"}
    assert status(HOOK, click) == SENT

    lead = a_lead(click)
    assert HOOK in lead["conversion"]["platforms"]
    assert "contact" not in lead  # hashed: the plain email never enters the stream
    assert run.handle(batch(lead, first_seq=2000)) == {"batchItemFailures": []}
    [_, second] = receiver.deliveries
    assert second.verified, second.problem
    validate(second.json)
    assert (second.json["type"], second.json["id"]) == ("lead", "lead-77")
    assert second.json["click"]["click_id"] == click["click"]["click_id"]
    assert second.json["user"]["email_sha256"] == lead["user"]["em"]
    assert b"jane@example.com" not in second.received.raw.lower()
    assert first.header("Idempotency-Key") != second.header("Idempotency-Key")

    # Lambda replays both records: the ledger knows them, the receiver hears nothing more.
    assert run.handle(batch(click, lead)) == {"batchItemFailures": []}
    assert len(receiver.received) == 2


def test_plain_personal_data_sends_the_normalised_email(aws, receiver):
    apply(receiver.url, personal_data="plain")
    click = a_click()
    lead = a_lead(click)
    assert lead["contact"] == {"email": "jane@example.com"}  # in the encrypted stream only
    assert dispatcher().handle(batch(lead)) == {"batchItemFailures": []}
    [delivery] = receiver.deliveries
    assert delivery.verified, delivery.problem
    assert delivery.json["user"] == {"email": "jane@example.com"}


def test_a_purchase_the_webhook_does_not_take_goes_nowhere(aws, receiver):
    apply(receiver.url)
    purchase = a_lead(a_click(), event="purchase")
    assert HOOK not in purchase["conversion"]["platforms"]
    assert dispatcher().handle(batch(purchase)) == {"batchItemFailures": []}
    assert receiver.received == []


def test_a_retry_resends_the_same_delivery_with_the_same_idempotency_key(aws, receiver):
    apply(receiver.url)
    click = a_click()
    receiver.answer(503, b"busy")
    assert dispatcher().handle(batch(click)) == {"batchItemFailures": []}
    first, second = receiver.deliveries
    assert first.verified and second.verified
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key")
    assert first.json["id"] == second.json["id"] == click["click"]["click_id"]
    assert status(HOOK, click) == SENT
    # A replay of the record: never a third delivery.
    assert dispatcher().handle(batch(click)) == {"batchItemFailures": []}
    assert len(receiver.received) == 2


def test_a_refusal_is_dead_lettered_with_the_reason(aws, receiver):
    apply(receiver.url)
    click = a_click()
    receiver.answer(400, {"error": "unknown field campaign"})
    assert dispatcher().handle(batch(click)) == {"batchItemFailures": []}
    assert len(receiver.received) == 1  # a 400 is not retried
    [message] = dlq_messages()
    assert message["platform"] == HOOK and message["outcome"] == "permanent"
    assert message["reason"] == "HTTP 400: unknown field campaign"
    assert status(HOOK, click) == DEAD


def test_a_dry_run_records_the_delivery_with_the_email_and_signature_masked(aws, receiver):
    apply(receiver.url, personal_data="plain", dry_run=True)
    lead = a_lead(a_click())
    assert dispatcher().handle(batch(lead)) == {"batchItemFailures": []}
    assert receiver.received == []
    s3, bucket = client("s3"), Names.from_env().lake_bucket_name()
    [obj] = s3.list_objects_v2(Bucket=bucket, Prefix="platform-requests/")["Contents"]
    raw = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    record = json.loads(raw)
    assert record["platform"] == HOOK
    assert record["headers"]["Rebound-Signature"] == "***"
    assert record["headers"]["Idempotency-Key"]
    assert record["body"]["user"] == {"email": "j***@example.com"}
    assert b"jane@example.com" not in raw and b"v1=" not in raw
    assert status(HOOK, lead) == DRY_RUN


def test_production_refuses_a_loopback_target_when_connecting(aws, receiver, monkeypatch):
    apply(receiver.url)  # validation would refuse it for production: written as if it had not
    monkeypatch.setenv("REBOUND_ALLOW_ENDPOINTS", "0")
    click = a_click()
    assert dispatcher().handle(batch(click)) == {"batchItemFailures": []}
    assert receiver.received == [] and not receiver.arrived.is_set()
    [message] = dlq_messages()
    assert message["outcome"] == "permanent"
    assert message["reason"].startswith("refused: the target is a loopback address (127.0.0.1)")
    assert status(HOOK, click) == DEAD
