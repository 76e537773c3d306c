"""Hostile requests through the HTTP layer: never a 5xx, never an injected header, never a
Location off the configured destinations' hosts. Lone surrogates (valid JSON escapes, invalid
Unicode: what an API Gateway event can carry) included."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.redirect import RequestFacts
from tests.redirect import test_handler as handler_tests
from tests.redirect.test_handler import CHROME, DOMAIN, LINKS, get, stream_events

# The moto-backed app and its Chalice test client, as test_edge sets them up.
app_module, handler, http = handler_tests.app_module, handler_tests.handler, handler_tests.http

CONFIGURED_HOSTS = {urlsplit(DOMAIN[key]).netloc for key in ("root_url", "not_found_url")} | {
    urlsplit(url).netloc
    for spec in LINKS
    for url in [spec["url"], spec.get("expired_url")]
    + [rule["url"] for rule in spec.get("rules") or []]
    + [arm["url"] for arm in spec.get("split") or []]
    if url
}
LONE = "\ud800"


def assert_safe(r) -> None:
    assert r.status_code < 500
    for name, value in r.headers.items():
        for one in value if isinstance(value, list) else [value]:
            assert "\r" not in one and "\n" not in one, (name, one)
    if "Location" in r.headers:
        location = urlsplit(r.headers["Location"])
        assert location.scheme == "https" and location.netloc in CONFIGURED_HOSTS


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (f"/plain?utm_source=x{LONE}", {}),
        (f"/pl{LONE}ain", {}),
        ("/plain", {"User-Agent": f"Mozilla/5.0 {LONE}"}),
        ("/plain", {"User-Agent": f"Mozilla/5.0 {LONE}", "Sec-GPC": "1"}),
        ("/plain", {"Cookie": f"rb_vid={LONE}; rb_consent={LONE}"}),
        ("/plain", {"Referer": f"https://news{LONE}.example/a"}),
        ("/plain", {"Accept-Language": f"de{LONE},en"}),
        ("/nope", {"User-Agent": f"\udfff{LONE}"}),
    ],
    ids=["query", "path", "user-agent", "user-agent-denied", "cookie", "referer", "lang", "orphan"],
)
def test_a_lone_surrogate_anywhere_is_never_a_5xx(http, path, headers):
    r = get(http, path, **{"User-Agent": CHROME, **headers})
    assert_safe(r)
    for event in stream_events():
        json.dumps(event, ensure_ascii=False).encode("utf-8")  # what was published is valid


def test_request_facts_replace_lone_surrogates_and_keep_real_characters():
    facts = RequestFacts.from_request(
        method="GET",
        host="go.localhost",
        path="/plain",
        query=[("utm_term", f"a{LONE}b\U0001f600")],
        headers={"User-Agent": f"Mozilla{LONE}", "Cookie": f"x={LONE}"},
    )
    assert facts.param("utm_term") == "a\ufffdb\U0001f600"
    assert facts.user_agent == "Mozilla\ufffd"
    assert facts.cookies["x"] == "\ufffd"


hostile_text = st.one_of(
    st.text(max_size=40),  # hypothesis leaves surrogates out of text() ...
    st.text(  # ... here they are common, beside controls, separators and plain letters
        st.one_of(
            st.characters(categories=["Cs"]),
            st.characters(categories=["Cc", "Zl", "Zs"]),
            st.characters(min_codepoint=0x21, max_codepoint=0x7E),
        ),
        max_size=20,
    ),
    st.sampled_from(
        ["\r\nLocation: https://evil.example", "%0d%0a", "//evil.example", "@evil.example",
         "https://evil.example/", "javascript:alert(1)", "..%2f", "\x00", "\u2028", "%ED%A0%80",
         "rb_consent=1", "fbclid=1", "\uff0eevil.example", "\u200b"]
    ),
)  # fmt: skip


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    slug=st.sampled_from(["plain", "ruled", "split", "tracked", "capped", "nope", ""]),
    tail=hostile_text,
    query=st.lists(st.tuples(hostile_text, hostile_text), max_size=4),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "User-Agent",
                "Referer",
                "Accept-Language",
                "Cookie",
                "Sec-GPC",
                "DNT",
                "CloudFront-Viewer-Country",
                "CloudFront-Is-Mobile-Viewer",
                "X-Forwarded-Proto",
            ]
        ),
        hostile_text,
        max_size=5,
    ),
)
def test_no_hostile_request_gets_a_5xx_a_foreign_location_or_a_split_header(
    http, slug, tail, query, headers
):
    qs = "&".join(f"{k}={v}" for k, v in query).replace("#", "%23")
    path = f"/{slug}{tail.replace('?', '').replace('#', '')}" + (f"?{qs}" if qs else "")
    assert_safe(get(http, path, **headers))
