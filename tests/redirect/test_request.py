"""Request facts: host, slug, query, headers, cookies, IP — defensive against any input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.config.loader import load_config_text
from chalicelib.links.plan import Specs, desired_docs
from chalicelib.links.record import domain_key, link_key
from chalicelib.redirect import decide, read_visitor
from chalicelib.redirect.request import (
    MAX_HEADER_CHARS,
    RequestFacts,
    _text,
    normalize_headers,
    normalize_ip,
    parse_cookies,
    parse_query,
    parse_slug,
)
from tests.redirect.factories import NOW, SALT

IDN_CONFIG = """\
version: 1
domains:
  - name: straße.example
links:
  - domain: straße.example
    slug: sale
    url: https://shop.example/sale
"""


@pytest.mark.parametrize(
    "host_header",
    [
        "xn--strae-oqa.example",  # as browsers send it (IDNA 2008 / UTS #46: ß is kept)
        "XN--STRAE-OQA.example:443",
        "straße.example",  # raw Unicode, as some clients and proxies pass it on
        "Straße.Example.",
    ],
)
def test_a_request_for_an_idn_domain_finds_the_link_configured_on_it(host_header):
    stored = desired_docs(Specs.from_config(load_config_text(IDN_CONFIG, "links.yaml")))
    facts = RequestFacts.from_request(
        method="GET", host=None, path="/sale", headers={"Host": host_header}
    )

    assert facts.host == "xn--strae-oqa.example"
    assert domain_key(facts.host) in stored
    _, _, doc = stored[link_key(facts.host, facts.slug)]
    visitor = read_visitor(facts, doc["site"], salt=SALT)
    decision = decide(doc, doc["site"], facts, visitor, NOW)
    assert (decision.status, decision.location) == (302, "https://shop.example/sale")


@pytest.mark.parametrize(
    ("path", "slug"),
    [
        ("/spring-sale", "spring-sale"),
        ("spring-sale", "spring-sale"),
        ("/Spring_Sale", "Spring_Sale"),
        ("/spring-sale/", "spring-sale"),
        ("/spring%2Dsale", "spring-sale"),
        ("/a", "a"),
        ("/" + "a" * 64, "a" * 64),
        ("/" + "a" * 65, None),
        ("/-starts-with-dash", None),
        ("/_/health", None),
        ("/_reserved", None),
        ("/a/b", None),
        ("/a%2Fb", None),
        ("/a%252Db", None),  # decoded once only: "a%2Db" is not a slug
        ("/caf%C3%A9", None),
        ("/%ff%fe", None),
        ("/a b", None),
        ("/a\r\nb", None),
        ("/", None),
        ("", None),
    ],
)
def test_slug_is_percent_decoded_once_and_validated(path, slug):
    assert parse_slug(path) == slug


def test_root_path_is_root():
    assert RequestFacts.from_request(method="GET", host="go.example", path="/").is_root
    assert RequestFacts.from_request(method="GET", host="go.example", path="").is_root
    assert not RequestFacts.from_request(method="GET", host="go.example", path="/x").is_root


def test_query_from_a_raw_string_keeps_order_and_decodes():
    assert parse_query("?b=2&a=1&b=3&e=&sp=a+b&pct=%41%2B") == [
        ("b", "2"),
        ("a", "1"),
        ("b", "3"),
        ("e", ""),
        ("sp", "a b"),
        ("pct", "A+"),
    ]


class MultiDict(dict):
    """Like Chalice's: a mapping whose getlist gives every value."""

    def getlist(self, key):
        return self[key]


def test_query_from_mappings_multidicts_and_pairs():
    assert parse_query({"a": "1", "b": ["2", "3"]}) == [("a", "1"), ("b", "2"), ("b", "3")]
    assert parse_query(MultiDict(a=["1", "2"])) == [("a", "1"), ("a", "2")]
    assert parse_query([("a", "1"), ("a", "2")]) == [("a", "1"), ("a", "2")]
    assert parse_query(None) == []


def test_query_garbage_keeps_what_parsed_and_never_raises():
    assert parse_query([("a", "1"), "not-a-pair", ("b", "2")]) == [("a", "1")]
    assert parse_query(12345) == []
    assert parse_query("&&=&a=%zz&%ff=%fe") == [("a", "%zz"), ("\ufffd", "\ufffd")]


def test_headers_are_case_insensitive():
    facts = RequestFacts.from_request(
        method="get",
        host=None,
        path="/x",
        headers={"HOST": "Go.Example", "User-Agent": " UA ", "X-Multi": ["a", "b"]},
    )
    assert facts.method == "GET"
    assert facts.host == "go.example"
    assert facts.user_agent == "UA"
    assert facts.headers["x-multi"] == "a, b"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("rb_vid=abc; rb_consent=1", {"rb_vid": "abc", "rb_consent": "1"}),
        ('rb_vid="abc"', {"rb_vid": "abc"}),
        ("a=1; a=2", {"a": "1"}),
        ("garbage; ;;=x; rb_vid=ok; =; b", {"rb_vid": "ok"}),
        ('bad"cookie=\\x; rb_vid=ok', {'bad"cookie': "\\x", "rb_vid": "ok"}),
        ("x=a=b", {"x": "a=b"}),
        ("", {}),
        (None, {}),
    ],
)
def test_cookie_header_parsing_is_robust(header, expected):
    assert parse_cookies(header) == expected


def test_one_malformed_cookie_does_not_hide_the_others():
    # http.cookies.SimpleCookie drops everything after a bad cookie; we must not.
    assert parse_cookies('x="unterminated; rb_vid=0123; y=\x00')["rb_vid"] == "0123"


def test_source_ip_is_validated_and_canonical():
    def ip(value):
        return RequestFacts.from_request(
            method="GET", host="h", path="/", source_ip=value
        ).source_ip

    assert ip("203.0.113.7") == "203.0.113.7"
    assert ip("2001:DB8::1") == "2001:db8::1"
    assert ip("not an ip") is None
    assert ip(None) is None


@pytest.mark.parametrize(
    ("headers", "https"),
    [
        ({"CloudFront-Forwarded-Proto": "https"}, True),
        ({"X-Forwarded-Proto": "https"}, True),
        ({"X-Forwarded-Proto": "https, http"}, True),
        ({"X-Forwarded-Proto": "http"}, False),
        ({}, False),
    ],
)
def test_https_comes_from_forwarded_proto(headers, https):
    facts = RequestFacts.from_request(method="GET", host="h", path="/", headers=headers)
    assert facts.is_https is https


def test_platform_click_ids_keep_name_and_value_exactly_and_skip_empty():
    facts = RequestFacts.from_request(
        method="GET",
        host="h",
        path="/x",
        query=[("fbclid", "IwAR2xYz_-AbC"), ("fbclid", "second"), ("sccid", "s1"), ("gclid", "")],
    )
    assert facts.platform_click_ids == {"fbclid": "IwAR2xYz_-AbC", "ScCid": "s1"}
    assert facts.platform_click_id_params == [("fbclid", "IwAR2xYz_-AbC"), ("sccid", "s1")]


@pytest.mark.parametrize(
    "soup",
    [b"\xff\xfe\x00", "\x00\r\n", object(), 3.5, ["a"], {"a": object()}],
)
def test_any_input_type_never_raises(soup):
    facts = RequestFacts.from_request(
        method=soup, host=soup, path=soup, query=soup, headers=soup, source_ip=soup
    )
    assert facts.slug is None


# --- The fast paths give what the general ones give ---------------------------------------------


def _ip_the_long_way(value):
    import ipaddress

    text = value.strip() if isinstance(value, str) else ""
    try:
        return str(ipaddress.ip_address(text)) if text and len(text) <= 64 else None
    except ValueError:
        return None


@given(
    st.one_of(
        st.tuples(*[st.integers(0, 300)] * 4).map(lambda t: ".".join(map(str, t))),
        st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(f"{o:03d}" for o in t)),
        st.ip_addresses().map(str),
        st.text(alphabet="0123456789.: \nabcdefABCDEF", max_size=20),
    )
)
def test_normalize_ip_fast_path_agrees_with_ipaddress(value):
    assert normalize_ip(value) == _ip_the_long_way(value)


@given(
    st.dictionaries(
        st.text(max_size=12),
        st.one_of(st.text(max_size=30), st.lists(st.text(max_size=5), max_size=3)),
        max_size=8,
    )
)
def test_normalize_headers_fast_path_agrees_with_the_general_one(headers):
    """ASCII str names and values take a shortcut; the result is what _text would give."""
    expected = {}
    for name, value in headers.items():
        if isinstance(value, list):
            value = ", ".join(_text(v) for v in value)
        key = _text(name).strip().lower()
        if key:
            expected[key] = _text(value)[:MAX_HEADER_CHARS]
    assert normalize_headers(headers) == expected
