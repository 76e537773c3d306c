"""`mode: pixel` through the HTTP layer on moto: from `apply` to the page and the recorded click."""

from __future__ import annotations

import json
import re

import pytest
from chalice.test import Client

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from infra.provision import PROJECT, load_app

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
SPECS = Specs(
    domains=[{"name": "go.localhost", "consent": {"honor_gpc": True}}],
    platforms={
        "meta": {"pixel_id": "1234567890", "access_token": "ssm:/rebound/local/meta-token"},
        "tiktok": {"pixel_code": "C0DE1234", "access_token": "ssm:/rebound/local/tiktok-token"},
    },
    audiences=[{"id": "all", "match": {"tags": ["summer"]}, "send_to": ["meta", "tiktok"]}],
    links=[
        {
            "domain": "go.localhost",
            "slug": "summer",
            "url": "https://shop.example/summer",
            "mode": "pixel",
            "tags": ["summer"],
            "track_conversions": True,
            "forward_query": True,
        }
    ],
)


def serve(specs: Specs):
    """For a fixture: ``specs`` applied on moto and the app's HTTP test client over them."""
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    store.write(make_plan(specs, store.read_all()).writes())
    module = load_app()
    module.redirect_handler.cache_clear()
    with Client(module.app, stage_name="local", project_dir=str(PROJECT)) as c:
        yield c.http
    module.redirect_handler.cache_clear()


@pytest.fixture
def http(aws):
    yield from serve(SPECS)


def get(http, path: str = "/summer?fbclid=IwAR-1", **headers):
    return http.get(path, headers={"Host": "go.localhost", "User-Agent": CHROME, **headers})


def clicks() -> list[dict]:
    kinesis, names = client("kinesis"), Names.from_env()
    shard = kinesis.describe_stream(StreamName=names.clicks_stream)["StreamDescription"]["Shards"]
    out = []
    for s in shard:
        it = kinesis.get_shard_iterator(
            StreamName=names.clicks_stream, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out += [
            json.loads(r["Data"])["click"] for r in kinesis.get_records(ShardIterator=it)["Records"]
        ]
    return out


def test_an_applied_pixel_link_serves_the_page_with_its_pixels(http):
    r = get(http)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = r.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    body = r.body.decode()
    assert f'<script nonce="{nonce}">' in body
    assert "https://connect.facebook.net" in csp and "https://analytics.tiktok.com" in csp
    assert "snap.licdn.com" not in csp  # LinkedIn is not in this link's audiences
    assert '"pixel_id":"1234567890"' in body and '"pixel_code":"C0DE1234"' in body
    cookies = r.headers["Set-Cookie"]
    cookies = [cookies] if isinstance(cookies, str) else cookies
    assert any(c.startswith("rb_vid=") for c in cookies)


def test_the_click_is_recorded_with_the_page_and_the_same_id_the_pixels_use(http):
    r = get(http)
    (click,) = clicks()
    assert click["status"] == 200 and click["platforms"] == ["meta", "tiktok"]
    assert click["destination"].startswith("https://shop.example/summer?fbclid=IwAR-1")
    assert f'"id":"{click["click_id"]}"' in r.body.decode()
    assert f"rb_cid={click['click_id']}" in click["destination"]


@pytest.mark.parametrize(
    ("method", "headers"),
    [("HEAD", {}), ("GET", {"Sec-GPC": "1"}), ("GET", {"User-Agent": "facebookexternalhit/1.1"})],
)
def test_head_denied_consent_and_bots_get_a_plain_redirect(http, method, headers):
    r = http.request(
        method, "/summer", headers={"Host": "go.localhost", "User-Agent": CHROME, **headers}
    )
    assert r.status_code == 302
    assert r.headers["Location"].startswith("https://shop.example/summer")
    assert "Content-Security-Policy" not in r.headers
