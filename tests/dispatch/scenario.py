"""The dispatcher's world for tests: a configured stack on moto (domains, platforms pointed at
fake servers on 127.0.0.1), stream envelopes, Kinesis batches, and what ended up where."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks import new_click_id
from chalicelib.clicks.envelope import kinesis_event
from chalicelib.conversions.record import CLICK_FIELDS
from chalicelib.dispatch.dispatcher import ConfigView, Dispatcher
from chalicelib.dispatch.ledger import Ledger, ledger_key
from chalicelib.dispatch.sinks import DeadLetters, DryRunRecorder, OutcomeLog
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from chalicelib.platforms.http import send_with_retries
from chalicelib.secrets import Secrets

NOW = datetime.now(UTC).replace(microsecond=0)
IP = "203.0.113.7"
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
META_TOKEN = "EAAB-meta-secret-token"
DOMAIN = "go.localhost"


def no_sleep(_: float) -> None:
    pass


def configure(
    fakes,
    *,
    ldu: bool = False,
    meta_extra: dict | None = None,
    google_url: str | None = None,
    domains: tuple[str, ...] = (DOMAIN,),
    audiences: list[dict] | None = None,
    links: list[dict] | None = None,
    webhooks: list[dict] | None = None,
) -> None:
    """The config table holds the domains and meta + tiktok (+ GA4) pointed at the fakes (and
    ``audiences``, ``links`` and ``webhooks`` when given: a webhook's secret is seeded)."""
    meta, tiktok = fakes
    ssm = client("ssm")
    ssm.put_parameter(Name="/t/meta", Value=META_TOKEN, Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name="/t/tiktok", Value="tt-secret", Type="SecureString", Overwrite=True)
    platforms: dict[str, Any] = {
        "meta": {
            "pixel_id": "1234",
            "access_token": "ssm:/t/meta",
            "page_view_event": "PageView",
            "api_version": "v26.0",
            "endpoint": meta.url,
            "dry_run": False,
            **(meta_extra or {}),
        },
        "tiktok": {
            "pixel_code": "C0DE",
            "access_token": "ssm:/t/tiktok",
            "endpoint": tiktok.url,
            "dry_run": False,
        },
    }
    if google_url:
        ssm.put_parameter(Name="/t/ga4", Value="ga4-secret", Type="SecureString", Overwrite=True)
        platforms["google"] = {
            "ga4_measurement_id": "G-TEST123",
            "ga4_api_secret": "ssm:/t/ga4",
            "endpoint": google_url,
            "dry_run": False,
        }
    specs = Specs(
        domains=[
            {
                "name": name,
                "consent": {
                    "honor_gpc": True,
                    "honor_dnt": True,
                    "require_in": ["EU"],
                    "limited_data_use": ldu,
                },
            }
            for name in domains
        ],
        platforms=platforms,
        audiences=audiences or [],
        links=links or [],
        webhooks=webhooks or [],
    )
    for hook in webhooks or []:
        name = hook["secret"].removeprefix("ssm:")
        ssm.put_parameter(Name=name, Value="whsec-test", Type="SecureString", Overwrite=True)
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    store.write(make_plan(specs, store.read_all()).writes())


def ledger() -> Ledger:
    return Ledger(client("dynamodb"), Names.from_env().state_table)


def dispatcher(**overrides) -> Dispatcher:
    names = Names.from_env()
    ddb = client("dynamodb")
    values = {
        "config": ConfigView(ddb, names.links_table),
        "secrets": Secrets(lambda: client("ssm"), lambda: client("secretsmanager")),
        "ledger": ledger(),
        "dead_letters": DeadLetters(client("sqs"), names.platform_dlq),
        "recorder": DryRunRecorder(client("s3"), names.lake_bucket_name()),
        "outcomes": OutcomeLog(client("s3"), names.lake_bucket_name()),
        "send": partial(send_with_retries, sleep=no_sleep, timeout=5),
    }
    values.update(overrides)
    return Dispatcher(**values)


def click(**overrides) -> dict:
    cid = new_click_id(NOW)
    record = {
        "schema": 1,
        "click_id": cid,
        "ts": NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "domain": DOMAIN,
        "slug": "spring-sale",
        "is_bot": False,
        "consent": "not_required",
        "platforms": ["meta", "tiktok"],
        "click_ids": {"fbclid": "IwAR2xYz_-AbC", "ttclid": "E.C.P.tt"},
        "country": "US",
        "visitor_id": "0f" * 16,
    }
    record.update(overrides)
    return {"kind": "click", "click": record, "ip": IP, "user_agent": UA}


def conversion(click_envelope: dict | None, **overrides) -> dict:
    c = (click_envelope or {}).get("click")
    record = {
        "schema": 1,
        "conversion_id": new_click_id(NOW),
        "ts": NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "event_time": NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "domain": DOMAIN,
        "event": "purchase",
        "event_id": "order-1001",
        "value": 49.5,
        "currency": "EUR",
        "click_id": c["click_id"] if c else None,
        "attributed": c is not None,
    }
    record.update(overrides)
    index = None
    if c:
        index = {**{k: c[k] for k in CLICK_FIELDS if k in c}, "user_agent": UA}
    return {
        "kind": "conversion",
        "conversion": record,
        "ip": "198.51.100.4",
        "user_agent": None,
        "user": {"em": hashlib.sha256(b"jane@example.com").hexdigest()},
        "click": index,
    }


def batch(*envelopes: dict, first_seq: int = 1000) -> dict:
    records = [
        {
            "PartitionKey": "k",
            "SequenceNumber": str(first_seq + i),
            "Data": json.dumps(e).encode(),
        }
        for i, e in enumerate(envelopes)
    ]
    return kinesis_event(records, "shardId-000000000000", "arn:aws:kinesis:x", "us-east-1")


def key_of(platform: str, envelope: dict) -> str:
    """The ledger key of the event an envelope makes for ``platform``."""
    if envelope["kind"] == "click":
        c = envelope["click"]
        return ledger_key(platform, c["domain"], "page_view", c["click_id"])
    c = envelope["conversion"]
    return ledger_key(platform, c["domain"], c["event"], c["event_id"])


def status(platform: str, envelope: dict) -> str | None:
    return ledger().status(key_of(platform, envelope))


def dlq_messages() -> list[dict]:
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=Names.from_env().platform_dlq)["QueueUrl"]
    out = []
    for _ in range(100):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            break
        out += [json.loads(m["Body"]) for m in msgs]
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def outcome_rows() -> list[dict]:
    s3, bucket = client("s3"), Names.from_env().lake_bucket_name()
    rows = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix="platform-events/").get("Contents", []):
        body = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        rows += [json.loads(line) for line in body.splitlines()]
    return rows


def sent_event_ids(fake) -> list[str]:
    """Every event id a fake meta or tiktok received, once per time it was received."""
    return [e["event_id"] for r in fake.received for e in r.json["data"]]


# --- Through the real code: links.yaml applied, a click as the redirect publishes it, a lead as
# the postback publishes it (for the destinations that depend on the stored link doc).


def apply_config(text: str) -> None:
    """``rebound apply`` of a links.yaml text to the config table."""
    from chalicelib.config.loader import load_config_text

    config = load_config_text(text, "links.yaml")
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    store.write(make_plan(Specs.from_config(config), store.read_all()).writes())


def stored_link(domain: str, slug: str) -> dict:
    """The link's doc as apply stored it."""
    from chalicelib.links.record import get_doc, link_key

    found = get_doc(client("dynamodb"), Names.from_env().links_table, link_key(domain, slug))
    assert found is not None
    return found


def redirected_click(domain: str, slug: str, query: list[tuple[str, str]] | None = None) -> dict:
    """The envelope the redirect publishes for a human click on ``domain/slug`` from outside
    the EU (``query``: the visitor's query parameters)."""
    from chalicelib.clicks.event import build_click, click_envelope
    from chalicelib.redirect import decide
    from tests.redirect.factories import facts, visitor

    doc = stored_link(domain, slug)
    request = facts(path=f"/{slug}", host=domain, cloudfront_viewer_country="US", query=query or [])
    who = visitor(request, doc["site"])
    click_id = new_click_id(NOW)
    decision = decide(doc, doc["site"], request, who, NOW, click_id=click_id)
    record = build_click(decision, request, who, doc, click_id=click_id, now=NOW)
    assert record is not None
    return click_envelope(record, request)


def posted_back(click: dict, *, event: str = "lead", event_id: str = "lead-77", email: str) -> dict:
    """The envelope the postback publishes for a signed conversion with ``email`` on ``click``."""
    from chalicelib.conversions.postback import Postback
    from chalicelib.conversions.record import build_conversion

    postback = Postback(
        event=event,
        event_id=event_id,
        event_time=NOW,
        click_id=click["click"]["click_id"],
        user={"email": email},
    )
    index = {k: click["click"][k] for k in CLICK_FIELDS if k in click["click"]}
    domain = click["click"]["domain"]
    _, envelope = build_conversion(
        postback,
        conversion_id=new_click_id(NOW),
        domain=domain,
        now=NOW,
        click=index,
        link_doc=stored_link(domain, click["click"]["slug"]),
    )
    return envelope
