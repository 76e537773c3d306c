"""A pixel link asks a visitor of a `require_in` region who has not chosen yet, before any pixel:
no script, the first-party Accept / Decline form, a way on without sharing."""

from __future__ import annotations

import re

import pytest

from chalicelib.redirect.interstitial import render_choice, return_path
from tests.redirect.factories import CLICK_ID, facts, site
from tests.redirect.test_interstitial import HOSTILE, PIXELS, Parsed, pixel_link, run

DESTINATION = "https://shop.example/sale?rb_cid=" + CLICK_ID


def choice_of(decision) -> Parsed:
    assert decision.status == 200, decision.headers
    return Parsed(decision.body)


@pytest.mark.parametrize(
    ("request_", "why"),
    [
        (facts(cloudfront_viewer_country="DE"), "a require_in country"),
        (facts(cloudfront_viewer_country=""), "an unknown country counts as inside"),
        (facts(cloudfront_viewer_country="DE", query="rb_consent=1"), "a grant in the URL"),
        (facts(cloudfront_viewer_country="DE", cookie="rb_consent=garbage"), "no valid choice"),
    ],
)
def test_a_visitor_who_must_choose_gets_the_choice_before_any_pixel(request_, why):
    decision = run(pixel_link(), request=request_)
    page = choice_of(decision)
    assert page.all("script") == [] and page.scripts == [], why
    csp = decision.headers["Content-Security-Policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert not re.search(r"facebook|tiktok|google|licdn|pinimg|sc-static|reddit", csp)
    assert not re.search(r"fbq|ttq|gtag|pintrk|snaptr|rdt\(", decision.body)
    assert "http-equiv" not in decision.body  # no auto-redirect: the visitor chooses
    assert decision.headers["Cache-Control"] == "private, no-store"
    assert decision.headers["X-Robots-Tag"] == "noindex"
    assert "frame-ancestors 'none'" in csp


def test_the_choice_posts_accept_or_decline_to_the_first_party_page_and_returns_to_the_link():
    decision = run(
        pixel_link(),
        request=facts(cloudfront_viewer_country="FR", query="fbclid=IwAR-1&rb_consent=1"),
    )
    page = choice_of(decision)
    (form,) = page.all("form")
    assert (form["method"], form["action"]) == ("post", "/_/consent")
    (hidden,) = page.all("input")
    assert (hidden["type"], hidden["name"]) == ("hidden", "return")
    assert hidden["value"] == "/spring-sale?fbclid=IwAR-1"  # rb_consent left out
    buttons = page.all("button")
    assert [(b["type"], b["name"], b["value"]) for b in buttons] == [
        ("submit", "choice", "accept"),
        ("submit", "choice", "decline"),
    ]
    assert ">Accept</button>" in decision.body and ">Decline</button>" in decision.body
    assert "form-action 'self'" in decision.headers["Content-Security-Policy"]
    assert re.search(r'<html lang="en">', decision.body)


def test_continuing_without_a_choice_still_reaches_the_destination():
    decision = run(pixel_link(), request=facts(cloudfront_viewer_country="DE"))
    (anchor,) = choice_of(decision).all("a")
    assert anchor["href"] == decision.location == DESTINATION
    assert "without sharing" in decision.body


def test_the_choice_names_the_platforms_the_pixels_would_tell():
    decision = run(
        pixel_link(pixels={"meta": PIXELS["meta"], "tiktok": PIXELS["tiktok"]}),
        request=facts(cloudfront_viewer_country="DE"),
    )
    assert "would like to tell Meta and TikTok that you followed" in " ".join(decision.body.split())


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (facts(cloudfront_viewer_country="DE", cookie="rb_consent=1"), 200),  # the pixels
        (facts(cloudfront_viewer_country="DE", cookie="rb_consent=0"), 302),
        (facts(cloudfront_viewer_country="DE", sec_gpc="1"), 302),
        (facts(cloudfront_viewer_country="DE", ua="facebookexternalhit/1.1"), 302),
        (facts(cloudfront_viewer_country="US"), 200),  # not required: the pixels
    ],
)
def test_a_visitor_who_has_chosen_or_need_not_is_never_asked(request_, status):
    decision = run(pixel_link(), request=request_)
    assert decision.status == status
    assert 'action="/_/consent"' not in decision.body


def test_a_first_party_grant_loads_the_pixels_in_a_require_in_country():
    decision = run(
        pixel_link(), request=facts(cloudfront_viewer_country="DE", cookie="rb_consent=1")
    )
    assert "script-src 'nonce-" in decision.headers["Content-Security-Policy"]
    assert len(Parsed(decision.body).scripts) == 1


def test_a_domain_that_allows_unknown_countries_shows_them_the_pixels():
    relaxed = site(consent={**site()["consent"], "unknown_country": "allow"})
    doc = pixel_link(site_doc=relaxed)
    assert (
        run(doc, request=facts(cloudfront_viewer_country=""))
        .headers["Content-Security-Policy"]
        .startswith("default-src 'none'; script-src 'nonce-")
    )
    assert 'action="/_/consent"' in run(doc, request=facts(cloudfront_viewer_country="AT")).body


def test_a_redirect_link_never_asks():
    doc = pixel_link()
    doc["spec"]["mode"] = "redirect"
    assert run(doc, request=facts(cloudfront_viewer_country="DE")).status == 302


def test_hostile_values_in_the_choice_stay_inert():
    request = facts(
        cloudfront_viewer_country="DE",
        query={"q": HOSTILE, "x": "\"'><svg onload=alert(1)>&amp;"},
    )
    doc = pixel_link(forward_query=True)
    decision = run(doc, request=request)
    body = decision.body
    assert "<script" not in body and "<svg" not in body
    page = Parsed(body)
    assert page.all("a")[0]["href"] == decision.location
    (hidden,) = page.all("input")
    assert hidden["value"].startswith("/spring-sale?q=%3C%2Fscript%3E")
    assert '"' not in hidden["value"] and "<" not in hidden["value"]


def test_render_choice_is_a_function_of_its_inputs_and_the_nonce():
    request = facts(cloudfront_viewer_country="DE")
    a = render_choice("https://shop.example/", request, {"meta": PIXELS["meta"]}, nonce="abc")
    b = render_choice("https://shop.example/", request, {"meta": PIXELS["meta"]}, nonce="abc")
    assert a == b and "'nonce-abc'" in a.content_security_policy
    assert '<style nonce="abc">' in a.body


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/spring-sale", None, "/spring-sale"),
        ("/Spring-Sale/", "utm_source=x&rb_consent=0", "/Spring-Sale?utm_source=x"),
        ("/spring-sale", "q=a b", "/spring-sale?q=a+b"),
    ],
)
def test_return_path_is_the_link_as_asked(path, query, expected):
    assert return_path(facts(path=path, query=query)) == expected
