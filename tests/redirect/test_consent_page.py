"""`/_/consent` on plain values: the page, the same-origin POST, the cookie, the way back."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.redirect.consent_page import answer, safe_return
from tests.redirect.test_interstitial import Parsed

HOST = "go.example"
ORIGIN = f"https://{HOST}"
FORM = "application/x-www-form-urlencoded"


def get(query=None, **headers):
    return answer(method="GET", query=query, headers={"Host": HOST, **headers}, body=None)


def post(body=b"choice=accept&return=%2Fspring-sale", *, origin=ORIGIN, **headers):
    hdrs = {"Host": HOST, "Content-Type": FORM, "X-Forwarded-Proto": "https", **headers}
    if origin is not None:
        hdrs["Origin"] = origin
    return answer(method="POST", query=None, headers=hdrs, body=body)


# --- GET: the page -------------------------------------------------------------------------------


def test_the_page_is_an_accessible_form_that_works_without_javascript():
    reply = get({"return": "/spring-sale"})
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    page = Parsed(reply.body)
    assert page.all("html") == [{"lang": "en"}]
    assert page.all("script") == []
    (form,) = page.all("form")
    assert (form["method"], form["action"]) == ("post", "/_/consent")
    assert form["aria-describedby"] in {tag.get("id") for _, tag in page.tags}
    (hidden,) = page.all("input")
    assert (hidden["type"], hidden["name"], hidden["value"]) == ("hidden", "return", "/spring-sale")
    assert [(b["type"], b["name"], b["value"]) for b in page.all("button")] == [
        ("submit", "choice", "accept"),
        ("submit", "choice", "decline"),
    ]
    assert ">Accept</button>" in reply.body and ">Decline</button>" in reply.body
    assert [a["href"] for a in page.all("a")] == ["/spring-sale"]
    assert len(page.all("h1")) == 1 and page.all("title")


def test_the_page_headers_forbid_scripts_framing_caching_and_indexing():
    reply = get()
    headers = reply.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Robots-Tag"] == "noindex"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"  # "no-referrer" would send Origin: null
    directives = dict(d.split(" ", 1) for d in headers["Content-Security-Policy"].split("; "))
    assert directives["default-src"] == "'none'"
    assert "script-src" not in directives
    assert directives["frame-ancestors"] == directives["base-uri"] == "'none'"
    assert directives["form-action"].startswith("'self'")
    nonce = re.fullmatch(r"'nonce-([^']+)'", directives["style-src"]).group(1)
    assert [s["nonce"] for s in Parsed(reply.body).all("style")] == [nonce]
    assert nonce not in get().headers["Content-Security-Policy"]


def test_the_page_says_what_the_visitor_chose_before():
    assert "You have accepted." in get(Cookie="rb_consent=1").body
    assert "You have declined." in get(Cookie="rb_consent=0").body
    assert "You have not chosen yet." in get().body


def test_head_answers_the_headers_without_the_page():
    reply = answer(method="HEAD", query=None, headers={"Host": HOST}, body=None)
    assert (reply.status, reply.body) == (200, "")


HOSTILE = "/x?a=\"'><script>alert(1)</script>"


def test_hostile_values_on_the_page_stay_inert():
    reply = get({"return": HOSTILE}, Cookie='rb_consent="><script>')
    assert "<script" not in reply.body and "'>" not in reply.body
    (hidden,) = Parsed(reply.body).all("input")
    assert hidden["value"] == "/x?a=%22'%3E%3Cscript%3Ealert(1)%3C/script%3E"
    assert "<script" not in get(Host="<script>.example").body


# --- The return path -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/spring-sale", "/spring-sale"),
        ("/Spring-Sale/", "/Spring-Sale/"),
        ("/spring-sale?fbclid=IwAR-1&utm_source=x", "/spring-sale?fbclid=IwAR-1&utm_source=x"),
        ("/spring-sale#top", "/spring-sale"),
        ("/", "/"),
        ("/s?q=caf\u00e9 au lait", "/s?q=caf%C3%A9%20au%20lait"),
    ],
)
def test_return_keeps_a_short_link_path_on_this_host(value, expected):
    assert safe_return(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/spring-sale\r\nSet-Cookie: rb_consent=1",
        "/spring-sale?x=\x00",
        "/spring-sale?x=\u2028",
        "/spring-sale?x=\u200b",
        "javascript:alert(1)",
        "spring-sale",
        "/_/consent",
        "/_/conversions",
        "/a/b",
        "/%2F%2Fevil.example",
        "/" + "a" * 65,
        "/a?" + "x" * 3000,
        ["/spring-sale"],
    ],
)
def test_return_is_only_a_same_host_relative_path_otherwise_slash(value):
    assert safe_return(value) == "/"


# --- POST: the choice ----------------------------------------------------------------------------


def test_accepting_sets_the_grant_cookie_and_returns_to_the_link():
    reply = post()
    assert reply.status == 303
    assert reply.headers["Location"] == "/spring-sale"
    assert reply.headers["Set-Cookie"] == [
        "rb_consent=1; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure"
    ]
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["X-Robots-Tag"] == "noindex"


def test_declining_sets_the_denial_cookie_and_returns_to_the_link():
    reply = post(b"choice=decline&return=%2Fspring-sale%3Ffbclid%3DIwAR-1")
    assert (reply.status, reply.headers["Location"]) == (303, "/spring-sale?fbclid=IwAR-1")
    assert reply.headers["Set-Cookie"] == [
        "rb_consent=0; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure"
    ]


def test_the_cookie_is_not_secure_over_plain_http_and_a_bad_return_goes_home():
    reply = post(
        b"choice=accept&return=%2F%2Fevil.example", origin="http://go.example:8000",
        **{"Host": "go.example:8000", "X-Forwarded-Proto": "http"},
    )  # fmt: skip
    assert reply.status == 303 and reply.headers["Location"] == "/"
    assert "Secure" not in reply.headers["Set-Cookie"][0]


@pytest.mark.parametrize(
    ("origin", "headers"),
    [
        ("https://evil.example", {}),
        ("https://go.example.evil.example", {}),
        ("https://sub.go.example", {}),
        ("https://go.example:8443", {}),
        ("null", {}),
        ("", {}),
        (None, {}),
        (None, {"Referer": "https://evil.example/_/consent"}),
        ("not a url", {}),
        ("javascript:alert(1)", {}),
        (ORIGIN, {"Sec-Fetch-Site": "cross-site"}),
        (ORIGIN, {"Sec-Fetch-Site": "same-site"}),
        ("https://go.example", {"Host": "other.example"}),
    ],
)
def test_a_post_that_is_not_from_this_site_is_refused(origin, headers):
    reply = post(origin=origin, **headers)
    assert reply.status == 403
    assert "Set-Cookie" not in reply.headers and "Location" not in reply.headers


def test_the_referer_proves_the_origin_when_origin_is_absent():
    reply = post(origin=None, Referer="https://go.example/_/consent?return=/spring-sale")
    assert reply.status == 303
    assert post(origin=None, Referer="https://go.example/spring-sale").status == 303


def test_same_origin_by_every_header_the_browser_sends():
    assert post(**{"Sec-Fetch-Site": "same-origin"}).status == 303
    assert post(origin="https://GO.example:443").status == 303


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"return=%2Fa", FORM, 400),
        (b"choice=yes", FORM, 400),
        (b"choice=", FORM, 400),
        (b"", FORM, 400),
        (b"\xff\xfe\x00", FORM, 400),
        (b"choice=accept", "application/json", 415),
        (b"choice=accept", "", 415),
        (b"choice=accept&x=" + b"a" * 5000, FORM, 413),
    ],
)
def test_bad_input_is_a_clear_4xx(body, content_type, status):
    reply = post(body, **{"Content-Type": content_type})
    assert reply.status == status
    assert "Set-Cookie" not in reply.headers
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_a_form_encoding_with_a_charset_is_accepted():
    assert (
        post(**{"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}).status == 303
    )


def test_other_methods_are_405():
    reply = answer(method="PUT", query=None, headers={"Host": HOST}, body=b"")
    assert reply.status == 405 and "POST" in reply.headers["Allow"]


@settings(max_examples=150, deadline=None)
@given(
    body=st.one_of(st.binary(max_size=300), st.text(max_size=300)),
    origin=st.one_of(st.none(), st.just(ORIGIN), st.text(max_size=40)),
    host=st.one_of(st.just(HOST), st.text(max_size=40)),
    cookie=st.text(max_size=60),
    ret=st.text(max_size=60),
)
def test_no_input_is_a_5xx_an_open_redirect_or_an_injected_header(body, origin, host, cookie, ret):
    headers = {"Host": host, "Content-Type": FORM, "Cookie": cookie}
    if origin is not None:
        headers["Origin"] = origin
    for reply in (
        answer(method="POST", query=None, headers=headers, body=body),
        answer(method="GET", query={"return": ret}, headers=headers, body=None),
    ):
        assert reply.status < 500
        location = reply.headers.get("Location")
        if location is not None:
            assert location.startswith("/") and not location.startswith("//")
            assert "\\" not in location
        for value in reply.headers.values():
            for item in value if isinstance(value, list) else [value]:
                assert "\r" not in item and "\n" not in item
