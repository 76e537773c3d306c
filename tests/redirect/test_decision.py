"""The order of decisions, step by step, and the response each step produces."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.redirect import decide
from tests.redirect.factories import (
    CHROME,
    CLICK_ID,
    NOW,
    SAFARI_IPHONE,
    facts,
    link,
    site,
    visitor,
)


def run(doc, site_doc=None, request=None, now=NOW, consume=None, click_id=CLICK_ID):
    site_doc = site_doc if site_doc is not None else (doc["site"] if doc else site())
    request = request or facts()
    return decide(
        doc,
        site_doc,
        request,
        visitor(request, site_doc),
        now,
        click_id=click_id,
        consume_click=consume,
    )


class Counter:
    """A max_clicks counter: True while clicks are left."""

    def __init__(self, left: int):
        self.left, self.calls = left, 0

    def __call__(self) -> bool:
        self.calls += 1
        self.left -= 1
        return self.left >= 0


# -- unknown domain, root, not found ---------------------------------------------------------


def test_an_unknown_domain_gets_a_404_page_and_is_not_recorded():
    request = facts()
    decision = decide(None, None, request, visitor(request, None), NOW)
    assert (decision.status, decision.rule, decision.location) == (404, "unknown_domain", None)
    assert decision.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Set-Cookie" not in decision.headers
    assert not decision.is_recorded


def test_the_root_redirects_to_the_sites_root_url():
    decision = run(None, request=facts("/"))
    assert (decision.status, decision.location, decision.rule) == (
        302,
        "https://shop.example/",
        "root",
    )
    assert decision.is_recorded


def test_the_root_without_root_url_is_a_404_page():
    decision = run(None, site(root_url=None), facts("/"))
    assert (decision.status, decision.rule, decision.location) == (404, "root", None)


def test_an_unknown_slug_redirects_to_the_not_found_url():
    decision = run(None, request=facts("/nope"))
    assert (decision.status, decision.location, decision.rule) == (
        302,
        "https://shop.example/missing",
        "not_found",
    )


def test_an_unknown_slug_without_not_found_url_is_a_404_page():
    decision = run(None, site(not_found_url=None), facts("/nope"))
    assert (decision.status, decision.rule) == (404, "not_found")
    assert "go.example/nope" in decision.body


def test_an_invalid_slug_is_not_found_even_if_a_doc_was_passed():
    decision = run(link(), request=facts("/bad%20slug"))
    assert (decision.rule, decision.link) == ("not_found", None)


def test_site_fallbacks_forward_click_ids_only():
    decision = run(None, request=facts("/nope", "fbclid=IwAR2xYz_-AbC&ref=x"))
    assert decision.location == "https://shop.example/missing?fbclid=IwAR2xYz_-AbC"


def test_the_site_is_taken_from_the_link_doc_when_not_given():
    request = facts()
    decision = decide(link(), None, request, visitor(request), NOW)
    assert decision.location == "https://shop.example/sale"


# -- active window -------------------------------------------------------------------------


def test_before_starts_at_the_link_is_treated_as_not_found():
    doc = link(starts_at="2026-12-01T00:00:00Z")
    decision = run(doc)
    assert (decision.status, decision.location, decision.rule) == (
        302,
        "https://shop.example/missing",
        "not_started",
    )
    assert run(doc, now=NOW + timedelta(days=30)).rule == "default"


def test_after_expires_at_the_links_expired_url():
    doc = link(expires_at="2026-11-01T00:00:00Z", expired_url="https://shop.example/deals")
    decision = run(doc)
    assert (decision.status, decision.location, decision.rule) == (
        302,
        "https://shop.example/deals",
        "expired",
    )


def test_after_expires_at_the_sites_expired_url_when_the_link_has_none():
    doc = link(site(expired_url="https://shop.example/over"), expires_at="2026-11-01T00:00:00Z")
    assert run(doc).location == "https://shop.example/over"


def test_after_expires_at_without_any_expired_url_a_410_page():
    decision = run(link(expires_at="2026-11-01T00:00:00Z"))
    assert (decision.status, decision.rule, decision.location) == (410, "expired", None)
    assert "expired" in decision.body.lower()


def test_expiry_is_exact_to_the_instant():
    doc = link(expires_at=NOW.isoformat())
    assert run(doc, now=NOW - timedelta(microseconds=1)).rule == "default"
    assert run(doc, now=NOW).rule == "expired"


# -- max_clicks ----------------------------------------------------------------------------


def test_max_clicks_counts_human_clicks_until_the_limit_then_expires():
    counter = Counter(left=1)
    doc = link(max_clicks=1, expired_url="https://shop.example/sold-out")
    assert run(doc, consume=counter).rule == "default"
    decision = run(doc, consume=counter)
    assert (decision.rule, decision.location) == ("limit", "https://shop.example/sold-out")
    assert counter.calls == 2


def test_bot_click_does_not_consume_max_clicks():
    counter = Counter(left=0)
    decision = run(
        link(max_clicks=1), request=facts(ua="Slackbot-LinkExpanding 1.0"), consume=counter
    )
    assert decision.rule == "default"
    assert counter.calls == 0


def test_head_request_does_not_consume_max_clicks():
    counter = Counter(left=0)
    assert run(link(max_clicks=1), request=facts(method="HEAD"), consume=counter).rule == "default"
    assert counter.calls == 0


def test_expired_and_not_started_links_do_not_consume_max_clicks():
    counter = Counter(left=5)
    run(link(max_clicks=5, expires_at="2026-01-01T00:00:00Z"), consume=counter)
    run(link(max_clicks=5, starts_at="2027-01-01T00:00:00Z"), consume=counter)
    assert counter.calls == 0


def test_links_without_max_clicks_never_call_the_counter():
    counter = Counter(left=0)
    assert run(link(), consume=counter).rule == "default"
    assert counter.calls == 0


def test_a_failing_counter_lets_the_click_through():
    def broken() -> bool:
        raise TimeoutError("dynamodb")

    assert run(link(max_clicks=1), consume=broken).rule == "default"


def test_the_limit_without_expired_url_is_a_410_page():
    decision = run(link(max_clicks=1), consume=Counter(left=0))
    assert (decision.status, decision.rule) == (410, "limit")


# -- rules, split, default -----------------------------------------------------------------


def test_a_matching_rule_wins_over_split_and_default():
    doc = link(
        rules=[{"when": {"device": ["ios"]}, "url": "https://apps.apple.com/app/id1"}],
        split=[{"url": "https://shop.example/a", "weight": 1}],
    )
    decision = run(doc, request=facts(ua=SAFARI_IPHONE))
    assert (decision.rule, decision.location) == ("rule:0", "https://apps.apple.com/app/id1")
    assert run(doc, request=facts(ua=CHROME)).rule == "split:0"


def test_the_split_is_sticky_for_the_visitors_cookie():
    doc = link(
        split=[
            {"url": "https://shop.example/a", "weight": 50},
            {"url": "https://shop.example/b", "weight": 50},
        ]
    )
    for n in range(20):
        cookie = f"rb_vid={n:032x}"
        first = run(doc, request=facts(cookie=cookie))
        assert all(
            run(doc, request=facts(cookie=cookie)).location == first.location for _ in range(3)
        )


def test_the_link_url_is_the_default():
    decision = run(link())
    assert (decision.status, decision.rule, decision.location) == (
        302,
        "default",
        "https://shop.example/sale",
    )
    assert decision.link["slug"] == "spring-sale"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_the_links_redirect_code_is_used(status):
    assert run(link(redirect=status)).status == status


def test_pixel_mode_redirects_like_redirect_mode_for_now():
    assert run(link(mode="pixel")).status == 302


def test_tracked_links_append_the_click_id_and_the_utm():
    doc = link(track_conversions=True, utm={"source": "newsletter", "medium": None})
    assert run(doc).location == "https://shop.example/sale?utm_source=newsletter&rb_cid=" + CLICK_ID


# -- response headers ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [302, 307])
def test_temporary_redirects_are_never_cached(status):
    assert run(link(redirect=status)).headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirects_are_cached_briefly_and_privately(status):
    assert run(link(redirect=status)).headers["Cache-Control"] == "private, max-age=300"
    tracked = run(link(redirect=status, track_conversions=True))
    assert tracked.headers["Cache-Control"] == "private, no-store"  # rb_cid is per click


def test_every_response_carries_x_robots_tag_noindex():
    decisions = [
        run(link()),
        run(None, request=facts("/")),
        run(None, site(not_found_url=None), facts("/nope")),
        run(link(expires_at="2026-01-01T00:00:00Z")),
        decide(None, None, facts(), visitor(facts(), None), NOW),
    ]
    assert all(d.headers["X-Robots-Tag"] == "noindex" for d in decisions)


def test_redirect_headers():
    decision = run(link(), request=facts(x_forwarded_proto="https"))
    headers = decision.headers
    assert headers["Location"] == decision.location
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    (cookie,) = headers["Set-Cookie"]
    assert cookie.startswith("rb_vid=") and cookie.endswith("; Secure")


def test_pages_are_small_escaped_html_that_is_never_cached():
    request = facts("/nope", host="go.example")
    decision = run(None, site(not_found_url=None), request)
    assert decision.headers["Content-Type"] == "text/html; charset=utf-8"
    assert decision.headers["Cache-Control"] == "private, no-store"
    assert decision.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in decision.headers["Content-Security-Policy"]
    assert decision.body.startswith("<!doctype html>") and len(decision.body) < 2000
    assert "<script" not in decision.body


def test_page_text_is_html_escaped():
    from chalicelib.redirect.pages import page

    body = page(404, "go.example", "<b>&")
    assert "&lt;b&gt;&amp;" in body and "<b>&" not in body


def test_a_head_request_gets_headers_but_no_page_body():
    decision = run(None, site(not_found_url=None), facts("/nope", method="HEAD"))
    assert (decision.status, decision.body) == (404, "")


def test_naive_now_is_taken_as_utc():
    doc = link(expires_at="2026-11-15T12:00:00Z")
    assert run(doc, now=NOW.replace(tzinfo=None)).rule == "expired"
