"""A local stack on moto with two domains, a tracked link feeding Meta and TikTok, and the app."""

from __future__ import annotations

import json
import time

import pytest
from chalice.test import Client

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.conversions.signature import sign
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from infra.provision import PROJECT, load_app

SECRET = "whsec-go-localhost-0123456789"
OTHER_SECRET = "whsec-shop-localhost-9876543210"
SECRET_REF = "ssm:/rebound/local/go.localhost/conversion-secret"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)

DOMAINS = [
    {
        "name": "go.localhost",
        "consent": {"honor_gpc": True, "honor_dnt": False, "require_in": []},
        "conversion_secret": SECRET_REF,
        "default_country": "US",
    },
    {
        "name": "shop.localhost",
        "conversion_secret": "secretsmanager:rebound/local/shop-conversion-secret",
    },
    {"name": "nosecret.localhost"},
    {"name": "unset.localhost", "conversion_secret": "ssm:/rebound/local/never-created"},
]
PLATFORMS = {
    "meta": {"pixel_id": "1234567890", "access_token": "ssm:/rebound/local/meta-token"},
    "tiktok": {"pixel_code": "C0DE1234", "access_token": "ssm:/rebound/local/tiktok-token"},
}
AUDIENCES = [{"id": "buyers", "match": {"tags": ["sale"]}, "send_to": ["meta", "tiktok"]}]


def _link(domain: str, slug: str) -> dict:
    return {
        "domain": domain,
        "slug": slug,
        "url": f"https://{domain.split('.')[0]}.example/{slug}",
        "redirect": 302,
        "mode": "redirect",
        "tags": ["sale"],
        "utm": {},
        "forward_query": True,
        "track_conversions": True,
        "rules": [],
        "campaign": "spring",
    }


LINKS = [_link("go.localhost", "sale"), _link("shop.localhost", "sale")]


@pytest.fixture
def stack(aws):
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    specs = Specs(domains=DOMAINS, platforms=PLATFORMS, audiences=AUDIENCES, links=LINKS)
    store.write(make_plan(specs, store.read_all()).writes())
    client("ssm").put_parameter(
        Name=SECRET_REF.removeprefix("ssm:"), Value=SECRET, Type="SecureString"
    )
    client("secretsmanager").create_secret(
        Name="rebound/local/shop-conversion-secret", SecretString=OTHER_SECRET
    )
    return aws


@pytest.fixture
def app_module(stack):
    module = load_app()
    module.redirect_handler.cache_clear()
    module.conversion_intake.cache_clear()
    yield module
    module.redirect_handler.cache_clear()
    module.conversion_intake.cache_clear()


@pytest.fixture
def intake(app_module):
    return app_module.conversion_intake()


@pytest.fixture
def http(app_module):
    with Client(app_module.app, stage_name="local", project_dir=str(PROJECT)) as c:
        yield c.http


def body_of(payload: dict | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def post(
    http,
    payload: dict | bytes,
    *,
    secret: str | None = SECRET,
    t: int | None = None,
    skew: int = 0,
    host: str = "go.localhost",
    content_type: str = "application/json",
    signature: str | None = None,
    **headers: str,
):
    """POST /_/conversions signed with `secret` at `t` (now + `skew`), unless `signature` is given."""
    body = body_of(payload)
    sent = {"Host": host, "Content-Type": content_type, **headers}
    if signature is not None:
        sent["Rebound-Signature"] = signature
    elif secret is not None:
        sent["Rebound-Signature"] = sign(body, secret, int(time.time()) + skew if t is None else t)
    return http.post("/_/conversions", headers=sent, body=body)


def stream_records() -> list[dict]:
    """Every record on the clicks stream so far (Kinesis GetRecords form)."""
    kinesis, names = client("kinesis"), Names.from_env()
    out = []
    desc = kinesis.describe_stream(StreamName=names.clicks_stream)["StreamDescription"]
    for shard in desc["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=names.clicks_stream,
            ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        for r in kinesis.get_records(ShardIterator=it)["Records"]:
            out.append({**r, "ShardId": shard["ShardId"]})
    return out


def stream_events(kind: str | None = None) -> list[dict]:
    events = [json.loads(r["Data"]) for r in stream_records()]
    return [e for e in events if kind is None or e["kind"] == kind]
