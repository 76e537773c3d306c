"""Properties over arbitrary input: nothing raises, every Location is a configured URL, and no
header value carries CR or LF."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.clicks import build_click, click_envelope
from chalicelib.redirect import RequestFacts, decide, read_visitor
from tests.redirect.factories import CLICK_ID, NOW, link, site

SITE = site(expired_url="https://shop.example/over")
LINKS = {
    "spring-sale": link(
        SITE,
        utm={"source": "newsletter", "medium": "email", "campaign": "spring"},
        forward_query=True,
        track_conversions=True,
        rules=[
            {"when": {"device": ["ios"]}, "url": "https://apps.apple.com/app/id1"},
            {
                "when": {"query": {"src": "ig"}, "language": ["de"]},
                "url": "https://shop.example/de/sale#x",
            },
            {"when": {"country": ["DE"], "os": ["Windows"]}, "url": "https://shop.example/de/?a=1"},
        ],
        split=[
            {"url": "https://shop.example/a", "weight": 70},
            {"url": "https://shop.example/b", "weight": 30},
        ],
    ),
    "old": link(
        SITE,
        slug="old",
        expires_at="2026-01-01T00:00:00Z",
        expired_url="https://shop.example/deals",
    ),
    "limited": link(SITE, slug="limited", max_clicks=1, forward_query=True),
    "later": link(SITE, slug="later", starts_at="2027-01-01T00:00:00Z"),
}
SITES = {"go.example": SITE}
CONFIGURED = {
    urlsplit(url)[:3]
    for url in [
        "https://apps.apple.com/app/id1",
        "https://shop.example/de/sale",
        "https://shop.example/de/",
        "https://shop.example/a",
        "https://shop.example/b",
        "https://shop.example/sale",
        "https://shop.example/deals",
        "https://shop.example/over",
        SITE["root_url"],
        SITE["not_found_url"],
    ]
}
HEADER_NAMES = [
    "User-Agent",
    "Cookie",
    "Accept-Language",
    "Referer",
    "CloudFront-Viewer-Country",
    "CloudFront-Is-Mobile-Viewer",
    "CloudFront-Is-IOS-Viewer",
    "Sec-GPC",
    "DNT",
    "X-Forwarded-Proto",
    "Host",
]
text = st.text(max_size=80)
interesting = st.sampled_from(
    ["", "/", "/spring-sale", "/old", "/limited", "/later", "/SPRING-SALE", "/%73pring-sale",
     "\r\n", "%0d%0a", "//evil.example", "https://evil.example/", "rb_consent=1", "fbclid",
     "src", "ig", "de", "1", "DE", "go.example", "rb_vid=zz", "javascript:alert(1)", "#", "?",
     "&", "=", "%", "%25", "\x00", "é", "\u2028", "..", "@evil.example"]
)  # fmt: skip
fragment = st.one_of(text, interesting)
soup = st.lists(fragment, max_size=4).map("".join)


def answer(method, host, path, query, headers, ip, consume_left):
    request = RequestFacts.from_request(
        method=method, host=host, path=path, query=query, headers=headers, source_ip=ip
    )
    site_doc = SITES.get(request.host or "")
    doc = LINKS.get((request.slug or "").lower()) if site_doc else None
    visitor = read_visitor(request, site_doc, salt=b"salt")
    decision = decide(
        doc,
        site_doc,
        request,
        visitor,
        NOW,
        click_id=CLICK_ID,
        consume_click=lambda: consume_left > 0,
    )
    return decision


def header_values(headers):
    for name, value in headers.items():
        yield name
        yield from value if isinstance(value, list) else [value]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "HEAD", "get", "POST", "", "G\r\nET"]),
    host=st.one_of(st.just("go.example"), st.just("GO.EXAMPLE:443"), soup),
    path=soup,
    query=st.one_of(soup, st.lists(st.tuples(fragment, fragment), max_size=6)),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), soup, max_size=8),
    ip=st.one_of(st.just("203.0.113.7"), st.just("2001:db8::1"), soup),
    consume_left=st.integers(0, 1),
)
def test_any_request_gets_a_configured_location_and_clean_headers(
    method, host, path, query, headers, ip, consume_left
):
    decision = answer(method, host, path, query, headers, ip, consume_left)

    for value in header_values(decision.headers):
        assert "\r" not in value and "\n" not in value
        assert all(0x20 <= ord(c) < 0x7F for c in value), value
    assert decision.headers["X-Robots-Tag"] == "noindex"
    if decision.location is None:
        assert decision.status in (404, 410)
    else:
        assert decision.status in (301, 302, 307, 308)
        assert decision.headers["Location"] == decision.location
        assert urlsplit(decision.location)[:3] in CONFIGURED


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(min_size=1, max_size=60),
    name=st.sampled_from(["fbclid", "gclid", "ScCid", "rdt_cid"]),
)
def test_any_click_id_reaches_the_destination_unchanged(value, name):
    request = RequestFacts.from_request(
        method="GET",
        host="go.example",
        path="/spring-sale",
        query=[(name, value)],
        headers={"User-Agent": "Mozilla/5.0"},
    )
    visitor = read_visitor(request, SITE, salt=b"s")
    decision = decide(LINKS["spring-sale"], SITE, request, visitor, NOW + timedelta(days=1))
    pairs = parse_qsl(urlsplit(decision.location).query, keep_blank_values=True)
    assert [v for k, v in pairs if k == name] == [value]


surrogate_soup = st.text(
    st.one_of(st.characters(categories=["Cs"]), st.characters(max_codepoint=0x7F)), max_size=12
)


@settings(max_examples=200, deadline=None)
@given(
    path=st.one_of(st.just("/spring-sale"), st.just("/nope"), surrogate_soup),
    query=st.lists(st.tuples(surrogate_soup, surrogate_soup), max_size=4),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), surrogate_soup, max_size=6),
)
def test_any_request_becomes_a_stream_record_that_encodes(path, query, headers):
    """Lone surrogates (valid in a JSON event, invalid Unicode) never reach the stream encoder."""
    headers = {"Host": "go.example", "Sec-GPC": "1", **headers}
    request = RequestFacts.from_request(
        method="GET", host=None, path=path, query=query, headers=headers, source_ip="203.0.113.7"
    )
    site_doc = SITES.get(request.host or "")
    doc = LINKS.get((request.slug or "").lower()) if site_doc else None
    visitor = read_visitor(request, site_doc, salt=b"salt")
    decision = decide(doc, site_doc, request, visitor, NOW, click_id=CLICK_ID)
    click = build_click(decision, request, visitor, doc, click_id=CLICK_ID, now=NOW)
    if click is not None:
        data = json.dumps(click_envelope(click, request), ensure_ascii=False).encode("utf-8")
        assert json.loads(data)["click"]["click_id"] == CLICK_ID
