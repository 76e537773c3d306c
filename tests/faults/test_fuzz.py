"""Hostile input on every route, through Chalice's test client on moto: never a 5xx, never a
Location off the configured hosts, never a CR/LF or an injected header (shared/DESIGN.md §8).

tests/redirect/test_hostile_input.py goes deep on the redirect; this covers every route the app
serves (the redirect, /_/consent, /_/conversions with valid signatures over hostile bodies,
/_/health, /robots.txt, /), each example a whole request: path, query, headers, cookies, body.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote, urlsplit

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.conversions.signature import sign
from chalicelib.links.plan import make_plan
from chalicelib.links.store import ConfigStore
from infra.provision import PROJECT, load_app
from tests.faults.world import DOMAIN, SECRET, SECRET_REF, world_specs

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SPECS = world_specs(
    "https://meta.invalid",
    "https://tiktok.invalid",
    "https://klaviyo.invalid",
    "https://hooks.invalid",
    "https://kit.invalid",
)
CONFIGURED_HOSTS = {DOMAIN} | {
    urlsplit(url).hostname
    for spec in [*SPECS.domains, *SPECS.links]
    for key in ("url", "root_url", "not_found_url", "expired_url")
    if (url := spec.get(key))
}
INJECTED = "x-injected"

# Text that has broken parsers before: separators, encodings, CR/LF with a header after it,
# lone surrogates (valid JSON escapes, invalid Unicode), overlong and non-ASCII forms.
NASTY = st.sampled_from(
    [
        "",
        "/",
        "//evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "..",
        "../../etc/passwd",
        "%2e%2e%2f",
        "%0d%0aX-Injected: 1",
        "\r\nX-Injected: 1",
        "\ud800",
        "x\udfff",
        "\x00",
        "ｅｖｉｌ．ｅｘａｍｐｌｅ",
        "go.localhost@evil.example",
        "rb_consent=1",
        "1, 1",
        "a" * 1000,
        "\u202e",
        "%",
        "%%",
        "?",
        "#",
        ";",
    ]
)
TEXT = st.one_of(NASTY, st.text(max_size=40), st.text(st.characters(codec="utf-8"), max_size=12))
HOSTS = st.sampled_from(
    [DOMAIN, "GO.LOCALHOST:8000", "evil.example", "", "go.localhost.", "\ud800"]
)


@pytest.fixture
def http(aws):
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    store.write(make_plan(SPECS, store.read_all()).writes())
    client("ssm").put_parameter(
        Name=SECRET_REF.removeprefix("ssm:"), Value=SECRET, Type="SecureString"
    )
    module = load_app()
    for name in ("redirect_handler", "conversion_intake"):
        getattr(module, name).cache_clear()
    with Client(module.app, stage_name="local", project_dir=str(PROJECT)) as c:
        yield c.http
    for name in ("redirect_handler", "conversion_intake"):
        getattr(module, name).cache_clear()


def assert_safe(response, host: str = DOMAIN) -> None:
    assert response.status_code < 500, (response.status_code, response.body[:300])
    for name, value in response.headers.items():
        assert name.lower() != INJECTED
        for one in value if isinstance(value, list) else [value]:
            assert "\r" not in one and "\n" not in one, (name, one)
    location = response.headers.get("Location")
    if location is not None:
        parts = urlsplit(location)
        if parts.scheme or parts.netloc:  # absolute: only where the config sends people
            assert parts.scheme in ("https", "http") and parts.hostname in CONFIGURED_HOSTS, (
                location
            )
        else:  # relative: on the short domain itself, never protocol-relative
            assert location.startswith("/") and not location.startswith(("//", "/\\")), location


def headers_of(draw_headers: dict[str, str], host: str) -> dict[str, str]:
    return {"Host": host, **draw_headers}


HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "User-Agent": TEXT,
        "Cookie": st.one_of(
            TEXT,
            st.builds(lambda a, b: f"rb_consent={a}; rb_vid={b}", TEXT, TEXT),
        ),
        "Referer": TEXT,
        "Accept-Language": TEXT,
        "Sec-GPC": TEXT,
        "DNT": TEXT,
        "CloudFront-Viewer-Country": TEXT,
        "X-Forwarded-For": TEXT,
        "Origin": TEXT,
        "Content-Type": TEXT,
    },
)
QUERY = st.one_of(
    st.just(""),
    st.builds(
        lambda k, v: (
            f"?{quote(k, safe='=&%', errors='surrogatepass')}={quote(v, safe='=&%', errors='surrogatepass')}"
        ),
        TEXT,
        TEXT,
    ),
    st.builds(lambda raw: "?" + raw.replace("#", ""), TEXT),
)
PATHS = st.one_of(
    st.sampled_from(["/sale", "/capped", "/", "/nope", "/_/consent", "/_/health", "/robots.txt"]),
    st.builds(lambda p: "/" + quote(p, safe="/%", errors="surrogatepass"), TEXT),
    st.builds(lambda p: "/_/" + quote(p, safe="/%", errors="surrogatepass"), TEXT),
)


@FUZZ
@given(path=PATHS, query=QUERY, headers=HEADERS, host=HOSTS)
def test_hostile_get_requests_on_any_route_are_never_a_5xx_an_open_redirect_or_a_header(
    http, path, query, headers, host
):
    assert_safe(http.get(path + query, headers=headers_of(headers, host)))


@FUZZ
@given(body=TEXT, query=QUERY, headers=HEADERS, host=HOSTS)
def test_hostile_consent_posts_are_never_a_5xx_an_open_redirect_or_a_header(
    http, body, query, headers, host
):
    sent = {"Content-Type": "application/x-www-form-urlencoded", **headers_of(headers, host)}
    response = http.post("/_/consent" + query, headers=sent, body=body.encode("utf-8", "replace"))
    assert_safe(response)


JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    TEXT,
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
POSTBACK = st.fixed_dictionaries(
    {},
    optional={
        "click_id": JSON_VALUE,
        "event": st.one_of(st.sampled_from(["lead", "purchase", "../x"]), JSON_VALUE),
        "event_id": st.one_of(TEXT, JSON_VALUE),
        "event_time": st.one_of(st.integers(), TEXT, JSON_VALUE),
        "value": JSON_VALUE,
        "currency": st.one_of(st.sampled_from(["EUR", "eur", "XXX"]), TEXT),
        "client_ip_address": TEXT,
        "client_user_agent": TEXT,
        "user": st.one_of(
            st.dictionaries(st.sampled_from(["email", "phone", "zip"]), TEXT), JSON_VALUE
        ),
    },
)


@FUZZ
@given(
    payload=st.one_of(POSTBACK, JSON_VALUE),
    raw=st.one_of(st.none(), st.binary(max_size=64), st.just(b'{"event_id": "\\ud800"}')),
    host=st.sampled_from([DOMAIN, "GO.LOCALHOST:443", "evil.example"]),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain", ""]
    ),
)
def test_validly_signed_hostile_postbacks_are_never_a_5xx(http, payload, raw, host, content_type):
    body = raw if raw is not None else json.dumps(payload).encode()
    response = http.post(
        "/_/conversions",
        headers={
            "Host": host,
            "Content-Type": content_type,
            "Rebound-Signature": sign(body, SECRET, int(time.time())),
        },
        body=body,
    )
    assert_safe(response)
    assert response.status_code in (202, 400, 401, 413, 415), response.body[:300]
    assert isinstance(json.loads(response.body), dict)
