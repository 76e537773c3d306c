"""The redirect on moto, through the HTTP layer: AWS calls, failures, counters, rules, splits."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.links.counter import ClickCounter
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from infra.provision import PROJECT, load_app
from rebound.worker import LocalWorker

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

DOMAIN = {
    "name": "go.localhost",
    "root_url": "https://shop.example/",
    "not_found_url": "https://shop.example/missing",
    "consent": {"honor_gpc": True, "honor_dnt": True, "require_in": ["EU"]},
}


def link(slug: str, url: str, **extra) -> dict:
    return {
        "domain": "go.localhost",
        "slug": slug,
        "url": url,
        "redirect": 302,
        "mode": "redirect",
        "tags": [],
        "utm": {},
        "forward_query": True,
        "track_conversions": False,
        "rules": [],
        **extra,
    }


LINKS = [
    link("plain", "https://shop.example/plain", utm={"source": "news"}, campaign="c1"),
    link(
        "ruled",
        "https://shop.example/default",
        rules=[
            {"when": {"device": ["ios"]}, "url": "https://shop.example/ios"},
            {"when": {"os": ["Android"]}, "url": "https://shop.example/android"},
            {"when": {"browser": ["Firefox"]}, "url": "https://shop.example/firefox"},
            {"when": {"country": ["DE", "AT"]}, "url": "https://shop.example/dach"},
            {"when": {"language": ["fr"]}, "url": "https://shop.example/fr"},
            {"when": {"query": {"ref": "tw"}}, "url": "https://shop.example/twitter"},
            {"when": {"query": {"promo": True}}, "url": "https://shop.example/promo"},
            {"when": {"after": "2026-12-24T00:00:00Z"}, "url": "https://shop.example/xmas"},
            {"when": {"before": "2026-01-01T00:00:00Z"}, "url": "https://shop.example/never"},
        ],
    ),
    link(
        "split",
        "https://shop.example/unused",
        split=[
            {"url": "https://shop.example/a", "weight": 70},
            {"url": "https://shop.example/b", "weight": 30},
        ],
    ),
    link("gone", "https://shop.example/gone", expires_at="2026-01-01T00:00:00Z"),
    link(
        "gone-elsewhere",
        "https://shop.example/gone",
        expires_at="2026-01-01T00:00:00Z",
        expired_url="https://shop.example/deals",
    ),
    link("later", "https://shop.example/later", starts_at="2027-01-01T00:00:00Z"),
    link("capped", "https://shop.example/capped", max_clicks=2),
    link("tracked", "https://shop.example/t", track_conversions=True, redirect=307),
]


class Calls:
    """Counts AWS API calls made by the redirect's own clients (botocore event hooks)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def hook(self, event_name: str, **kwargs) -> None:
        self.counts[event_name.split(".")[-1]] += 1

    def watch(self, *clients) -> None:
        for c in clients:
            c.meta.events.register("before-call.*.*", self.hook)


@pytest.fixture
def app_module(aws, monkeypatch):
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    specs = Specs(domains=[DOMAIN], links=LINKS)
    store.write(make_plan(specs, store.read_all()).writes())
    module = load_app()
    module.redirect_handler.cache_clear()
    monkeypatch.setenv("REBOUND_LINK_CACHE_TTL", "30")
    yield module
    module.redirect_handler.cache_clear()


@pytest.fixture
def handler(app_module):
    e = app_module.redirect_handler()
    e.now = lambda: NOW
    return e


@pytest.fixture
def http(app_module, handler):
    with Client(app_module.app, stage_name="local", project_dir=str(PROJECT)) as c:
        yield c.http


def get(http, path: str, ua: str = CHROME, host: str = "go.localhost", **headers):
    # As through CloudFront, which names the visitor's country (outside DOMAIN's require_in).
    headers = {"Host": host, "User-Agent": ua, "CloudFront-Viewer-Country": "US", **headers}
    return http.get(path, headers=headers)


def stream_events() -> list[dict]:
    kinesis, names = client("kinesis"), Names.from_env()
    out = []
    for shard in kinesis.describe_stream(StreamName=names.clicks_stream)["StreamDescription"][
        "Shards"
    ]:
        it = kinesis.get_shard_iterator(
            StreamName=names.clicks_stream,
            ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        out += [json.loads(r["Data"]) for r in kinesis.get_records(ShardIterator=it)["Records"]]
    return out


# --- The contract of a redirect ----------------------------------------------------------------


def test_a_link_redirects_with_the_contract_headers_and_records_one_click(http):
    r = get(http, "/plain?fbclid=IwAR2xYz_-AbC")
    assert r.status_code == 302
    assert r.headers["Location"] == (
        "https://shop.example/plain?utm_source=news&fbclid=IwAR2xYz_-AbC"
    )
    assert r.headers["Cache-Control"] == "private, no-store"
    assert r.headers["X-Robots-Tag"] == "noindex"
    (event,) = stream_events()
    assert event["kind"] == "click"
    assert event["ip"] == "127.0.0.1"  # the full IP travels only in the stream record
    click = event["click"]
    assert click["slug"] == "plain" and click["campaign"] == "c1" and not click["is_bot"]
    assert click["click_ids"] == {"fbclid": "IwAR2xYz_-AbC"}
    assert click["ip_prefix"] == "127.0.0.0/24"


def test_slug_and_host_are_matched_case_insensitively_and_the_port_is_ignored(http):
    r = get(http, "/PLAIN", host="GO.LocalHost:8000")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("https://shop.example/plain")


def test_a_percent_encoded_slug_is_decoded_once(http):
    assert get(http, "/pl%61in").headers["Location"].startswith("https://shop.example/plain")


def test_tracked_link_keeps_its_status_and_appends_the_click_id(http):
    r = get(http, "/tracked")
    assert r.status_code == 307
    (event,) = stream_events()
    assert parse_qs(urlsplit(r.headers["Location"]).query)["rb_cid"] == [event["click"]["click_id"]]


@pytest.mark.parametrize(
    ("ua", "headers", "query", "expected"),
    [
        (IPHONE, {}, "", "https://shop.example/ios"),
        (ANDROID, {}, "", "https://shop.example/android"),
        (FIREFOX, {}, "", "https://shop.example/firefox"),
        (CHROME, {"CloudFront-Viewer-Country": "AT"}, "", "https://shop.example/dach"),
        (CHROME, {"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}, "", "https://shop.example/fr"),
        (CHROME, {"Accept-Language": "en;q=0.9,fr;q=0.1"}, "", "https://shop.example/default"),
        (CHROME, {}, "?ref=tw", "https://shop.example/twitter"),
        (CHROME, {}, "?ref=fb", "https://shop.example/default"),
        (CHROME, {}, "?promo", "https://shop.example/promo"),
        (CHROME, {}, "", "https://shop.example/default"),
    ],
)
def test_each_rule_type_first_match_wins(http, ua, headers, query, expected):
    r = get(http, "/ruled" + query, ua=ua, **headers)
    assert r.status_code == 302
    assert r.headers["Location"].split("?")[0] == expected


def test_time_rules_use_the_request_time(http, handler):
    handler.now = lambda: datetime(2026, 12, 25, tzinfo=UTC)
    assert get(http, "/ruled").headers["Location"] == "https://shop.example/xmas"


def test_split_is_sticky_per_visitor_cookie(http):
    first = get(http, "/split")
    set_cookie = first.headers["Set-Cookie"]
    cookie = (set_cookie if isinstance(set_cookie, str) else set_cookie[0]).split(";")[0]
    assert cookie.startswith("rb_vid=")
    arms = {get(http, "/split", Cookie=cookie).headers["Location"] for _ in range(20)}
    assert arms == {first.headers["Location"]}


def test_split_weights_hold_over_many_visitors(http):
    rng = random.Random(20261123)
    seen = Counter()
    for _ in range(600):
        cookie = f"rb_vid={rng.getrandbits(128):032x}"
        seen[get(http, "/split", Cookie=cookie).headers["Location"]] += 1
    share_a = seen["https://shop.example/a"] / 600
    assert 0.64 < share_a < 0.76, seen


def test_expired_link_goes_to_its_expired_url_else_410(http):
    assert get(http, "/gone-elsewhere").headers["Location"] == "https://shop.example/deals"
    r = get(http, "/gone")
    assert r.status_code == 410
    assert "text/html" in r.headers["Content-Type"]


def test_a_link_before_its_start_is_not_found(http):
    assert get(http, "/later").headers["Location"] == "https://shop.example/missing"


def test_max_clicks_is_consumed_by_humans_only(http):
    for _ in range(4):
        assert (
            get(
                http, "/capped", ua="Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
            ).status_code
            == 302
        )
    assert (
        http.request(
            "HEAD", "/capped", headers={"Host": "go.localhost", "User-Agent": CHROME}
        ).status_code
        == 302
    )
    counter = ClickCounter(client("dynamodb"), Names.from_env().state_table)
    assert counter.count("go.localhost", "capped") == 0
    statuses = [get(http, "/capped").status_code for _ in range(3)]
    assert statuses == [302, 302, 410]
    assert counter.count("go.localhost", "capped") == 2
    bots = [e["click"] for e in stream_events() if e["click"]["is_bot"]]
    assert len(bots) == 5 and {b["bot_name"] for b in bots} >= {"Slackbot"}


def test_bots_are_redirected_and_recorded_as_bots(http):
    r = get(
        http,
        "/plain",
        ua="facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    )
    assert r.status_code == 302
    (event,) = stream_events()
    assert event["click"]["is_bot"] is True
    assert event["click"]["platforms"] == []


# --- Fallbacks and pages -----------------------------------------------------------------------


def test_unknown_slug_goes_to_the_domain_fallback_and_is_recorded(http):
    r = get(http, "/nope")
    assert r.headers["Location"] == "https://shop.example/missing"
    assert [e["click"]["rule"] for e in stream_events()] == ["not_found"]


def test_root_goes_to_the_root_url(http):
    assert get(http, "/").headers["Location"] == "https://shop.example/"


def test_unknown_domain_gets_a_404_page_and_records_nothing(http):
    r = get(http, "/plain", host="evil.example")
    assert r.status_code == 404
    assert "Location" not in r.headers
    assert stream_events() == []


def test_robots_and_health(http):
    r = get(http, "/robots.txt")
    assert r.status_code == 200 and b"Disallow: /" in r.body
    assert get(http, "/_/health").status_code == 200


def test_reserved_and_invalid_paths_never_reach_a_link(http):
    for path in ("/_", "/%0d%0aSet-Cookie:x=1", "/a%2Fb", "/" + "x" * 65):
        r = get(http, path)
        assert r.status_code in (302, 404), path
        assert r.headers.get("Location") in (None, "https://shop.example/missing"), path


# --- AWS calls on the hot path -----------------------------------------------------------------


def test_one_get_item_on_a_cache_miss_none_on_a_hit_and_one_put_record_per_click(http, handler):
    calls = Calls()
    calls.watch(handler.ddb, handler.publisher.kinesis)
    get(http, "/plain")
    assert calls.counts == {"GetItem": 1, "PutRecord": 1}
    get(http, "/plain")
    get(http, "/PLAIN")
    assert calls.counts == {"GetItem": 1, "PutRecord": 3}


def test_kinesis_failure_goes_to_sqs_and_is_republished_exactly_once(http, handler, app_module):
    class Throttled:
        def put_record(self, **kw):
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}},
                "PutRecord",
            )

    handler.publisher.kinesis = Throttled()
    r = get(http, "/plain")
    assert r.status_code == 302  # the visitor never notices
    assert stream_events() == []
    worker = LocalWorker(app_module, client("kinesis"), "us-east-1", sqs=client("sqs"))
    for _ in range(3):
        worker.tick()
    events = stream_events()
    assert len(events) == 1 and events[0]["click"]["slug"] == "plain"


def test_dynamodb_down_serves_stale_links_then_the_domain_fallback(http, handler):
    clock = [0.0]
    handler.cache.clock = lambda: clock[0]
    get(http, "/plain")
    clock[0] += 3600  # long past the TTL

    class Down:
        def get_item(self, **kw):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "GetItem")

    handler.ddb = Down()
    r = get(http, "/plain")
    assert r.headers["Location"].startswith("https://shop.example/plain")  # stale copy
    r = get(http, "/ruled")  # never cached: the domain's fallback, learnt from /plain
    assert r.status_code == 302 and r.headers["Location"] == "https://shop.example/missing"


def test_dynamodb_down_with_nothing_cached_is_never_a_5xx(http, handler):
    class Down:
        def get_item(self, **kw):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "GetItem")

        def update_item(self, **kw):
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "x"}}, "UpdateItem"
            )

    handler.ddb = Down()
    r = get(http, "/plain")
    assert r.status_code == 404
    assert len(stream_events()) == 1  # still recorded


# --- Hostile input at the HTTP layer -------------------------------------------------------------

CONFIGURED = {
    "https://shop.example" + p
    for p in (
        "/plain",
        "/default",
        "/ios",
        "/android",
        "/firefox",
        "/dach",
        "/fr",
        "/twitter",
        "/promo",
        "/xmas",
        "/never",
        "/a",
        "/b",
        "/unused",
        "/gone",
        "/deals",
        "/later",
        "/capped",
        "/t",
        "/missing",
        "/",
    )
}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    slug=st.sampled_from(["plain", "ruled", "split", "gone-elsewhere", "tracked", "nope", ""]),
    query=st.text(max_size=60),
    header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
)
def test_no_input_leaves_the_configured_destinations_or_splits_a_header(http, slug, query, header):
    r = get(
        http,
        f"/{slug}?{query.replace('#', '%23')}",
        ua=header or CHROME,
        **{"Accept-Language": header, "CloudFront-Viewer-Country": header[:2], "Cookie": header},
    )
    assert r.status_code in (301, 302, 307, 308, 404, 410)
    for value in r.headers.values():
        assert "\r" not in value and "\n" not in value
    if "Location" in r.headers:
        parts = urlsplit(r.headers["Location"])
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" in CONFIGURED


def test_the_redirect_function_does_not_import_what_only_others_use():
    code = (
        "import sys, app; "
        "bad = [m for m in ('pydantic', 'duckdb', 'sqlglot', 'ruamel', 'chalicelib.platforms', "
        "'chalicelib.config', 'chalicelib.lake') if any(k == m or k.startswith(m + '.') for k in sys.modules)]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "REBOUND_STAGE": "local"},
    )
    assert out.stdout.strip() == ""


# --- The state table failing: consent-denied visitors still get their redirect ------------------


def fail_calls(ddb_client, operation: str, table: str, code: str = "ThrottlingException") -> None:
    """Make every ``operation`` on ``table`` fail with ``code`` (botocore's event system)."""

    def hook(params, **kwargs):  # the call's own parameters, before they are serialised
        if params.get("TableName") == table:
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)

    ddb_client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", hook)


@pytest.mark.parametrize(
    "headers",
    [{"Sec-GPC": "1"}, {"DNT": "1"}, {"CloudFront-Viewer-Country": "DE"}],
    ids=["gpc", "dnt", "require_in"],
)
def test_a_denied_visitor_is_redirected_when_the_state_table_cannot_give_the_salt(
    http, handler, headers
):
    state = Names.from_env().state_table
    fail_calls(handler.ddb, "GetItem", state)
    fail_calls(handler.ddb, "PutItem", state)
    r = get(http, "/plain", **headers)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("https://shop.example/plain")
    (event,) = stream_events()
    assert event["click"]["consent"] == "denied"
    assert len(event["click"]["visitor_id"]) == 32


def test_a_fallback_salt_is_never_written_and_keeps_a_visitor_stable_for_the_day(http, handler):
    ddb, state = client("dynamodb"), Names.from_env().state_table
    fail_calls(handler.ddb, "GetItem", state)
    assert get(http, "/plain", **{"Sec-GPC": "1"}).status_code == 302
    assert get(http, "/plain", **{"Sec-GPC": "1"}).status_code == 302
    first, second = (e["click"]["visitor_id"] for e in stream_events())
    assert first == second
    items = ddb.scan(TableName=state)["Items"]
    assert not [i for i in items if i["pk"]["S"].startswith("salt#")]


def test_dynamodb_down_with_nothing_cached_is_never_a_5xx_for_a_denied_visitor(http, handler):
    class Down:
        def get_item(self, **kw):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "GetItem")

        def put_item(self, **kw):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "PutItem")

    handler.ddb = handler.salt.ddb = Down()
    for headers in ({"Sec-GPC": "1"}, {"CloudFront-Viewer-Country": "FR"}):
        r = get(http, "/plain", **headers)
        assert r.status_code == 404
    assert [e["click"]["consent"] for e in stream_events()] == ["denied", "denied"]


def test_an_unreachable_max_clicks_counter_lets_the_click_through(http, handler):
    fail_calls(handler.ddb, "UpdateItem", Names.from_env().state_table)
    assert [get(http, "/capped").status_code for _ in range(3)] == [302, 302, 302]


def test_a_publisher_that_raises_never_fails_the_redirect(http, handler):
    class Broken:
        def put_record(self, **kw):
            raise RuntimeError("boom")

        def send_message(self, **kw):
            raise RuntimeError("boom")

        def get_queue_url(self, **kw):
            raise RuntimeError("boom")

    handler.publisher.kinesis = handler.publisher.sqs = Broken()
    assert get(http, "/plain").status_code == 302


# --- No raw email or phone at rest -----------------------------------------------------------------


def test_a_forwarded_email_reaches_the_destination_but_never_the_click_record(http):
    r = get(http, "/plain?email=jane%40example.com&utm_term=%2B4915123456789&gclid=Cj0K")
    assert "email=jane%40example.com" in r.headers["Location"]
    (event,) = stream_events()
    click = event["click"]
    assert click["destination"] == "https://shop.example/plain?utm_source=news&gclid=Cj0K"
    assert click["utm_term"] == "<redacted>"
    record = json.dumps(click)
    assert "jane" not in record and "15123456789" not in record


def test_a_click_that_cannot_be_recorded_never_fails_the_redirect(http, monkeypatch, caplog):
    from chalicelib.redirect import handler as handler_module

    def broken(*args, **kwargs):
        raise KeyError("audiences")

    monkeypatch.setattr(handler_module, "build_click", broken)
    r = get(http, "/plain?email=jane%40example.com")
    assert r.status_code == 302
    assert stream_events() == []
    assert "KeyError" in caplog.text and "jane" not in caplog.text


def test_with_its_flusher_stopped_an_after_response_redirect_publishes_before_answering(
    handler, http
):
    """An after-response handler whose flusher has stopped (its Held closed) holds nothing: the
    click is on the stream when the 302 is answered, as in sync mode."""
    from chalicelib.clicks.after_response import Held

    held = Held()
    handler.held = held
    assert get(http, "/tracked").status_code == 307 and len(held) == 1
    assert stream_events() == []  # held: put by the flush
    held.close()
    assert len(stream_events()) == 1
    r = get(http, "/tracked")
    assert r.status_code == 307 and len(held) == 0
    events = stream_events()
    assert len(events) == 2
    assert (
        events[1]["click"]["click_id"]
        == parse_qs(urlsplit(r.headers["Location"]).query)["rb_cid"][0]
    )
