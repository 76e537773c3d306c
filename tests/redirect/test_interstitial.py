"""`mode: pixel` on plain values: who gets the page, what it loads, and that nothing is unescaped."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from chalicelib.links.pixels import pixels_for
from chalicelib.redirect import decide
from chalicelib.redirect.interstitial import (
    DEADLINE_MS,
    content_security_policy,
    render,
    script_json,
)
from tests.redirect.factories import CLICK_ID, NOW, facts, link, visitor

PIXELS = {
    "meta": {"pixel_id": "1234567890", "event": "PageView"},
    "google": {"tag_ids": ["G-AB12CD", "AW-987"]},
    "tiktok": {"pixel_code": "C0DE1234"},
    "linkedin": {"partner_id": "5151"},
    "pinterest": {"tag_id": "2612345678901"},
    "snapchat": {"pixel_id": "a1b2-c3d4"},
    "reddit": {"pixel_id": "t2_abc"},
}
AUDIENCES = [{"id": "all", "send_to": sorted(PIXELS)}]


def pixel_link(pixels=PIXELS, **spec):
    doc = link(audiences=AUDIENCES, mode="pixel", track_conversions=True, **spec)
    doc["pixels"] = pixels
    return doc


def run(doc, request=None, site_doc=None):
    request = request or facts()
    site_doc = site_doc or doc["site"]
    return decide(doc, site_doc, request, visitor(request, site_doc), NOW, click_id=CLICK_ID)


class Parsed(HTMLParser):
    """The elements the page is made of, with their attributes, and the inline script text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]


def config_of(html: str) -> dict:
    (script,) = Parsed(html).scripts
    match = re.search(r"\)\(window,document,(\{.*\})\);$", script, re.S)
    assert match, script[-200:]
    return json.loads(match.group(1))


# --- Who gets the page ---------------------------------------------------------------------------


def test_a_person_on_a_pixel_link_gets_the_200_page_not_a_redirect():
    decision = run(pixel_link())
    assert decision.status == 200
    assert decision.headers["Content-Type"] == "text/html; charset=utf-8"
    assert decision.headers["Cache-Control"] == "private, no-store"
    assert decision.headers["X-Robots-Tag"] == "noindex"
    assert "Location" not in decision.headers
    # The click is still recorded with where it went.
    assert decision.location.startswith("https://shop.example/sale?rb_cid=" + CLICK_ID)


def test_the_page_keeps_the_visitor_cookie():
    decision = run(pixel_link())
    cookies = decision.headers["Set-Cookie"]
    assert any(c.startswith("rb_vid=") for c in cookies)


@pytest.mark.parametrize(
    ("request_", "why"),
    [
        (facts(ua="Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"), "bot"),
        (facts(method="HEAD"), "HEAD"),
        (facts(sec_gpc="1"), "GPC on a site that honours it"),
        (facts(cookie="rb_consent=0"), "the visitor declined"),
        (facts(cloudfront_viewer_country="DE", query="rb_consent=0"), "denied in the link"),
        (facts(cloudfront_viewer_country="DE", method="HEAD"), "HEAD where a choice is due"),
    ],
)
def test_bots_head_and_denied_consent_get_the_plain_redirect(request_, why):
    decision = run(pixel_link(), request=request_)
    assert decision.status == 302, why
    assert decision.headers["Location"].startswith("https://shop.example/sale")
    assert decision.body == ""


def test_a_pixel_link_without_any_pixel_configured_is_a_plain_redirect():
    assert run(pixel_link(pixels={})).status == 302
    doc = pixel_link()
    del doc["pixels"]  # a doc written before pixels existed
    assert run(doc).status == 302


def test_a_redirect_link_never_gets_the_page():
    doc = pixel_link()
    doc["spec"]["mode"] = "redirect"
    assert run(doc).status == 302


def test_an_expired_pixel_link_redirects_to_its_expired_url():
    decision = run(
        pixel_link(expires_at="2026-01-01T00:00:00Z", expired_url="https://shop.example/over")
    )
    assert (decision.status, decision.location.split("?")[0]) == (302, "https://shop.example/over")


# --- What the page does --------------------------------------------------------------------------


def test_the_page_carries_every_pixel_with_the_click_id_and_the_destination():
    decision = run(pixel_link())
    config = config_of(decision.body)
    assert config["to"] == decision.location
    assert config["id"] == CLICK_ID
    assert config["wait"] == DEADLINE_MS == 800
    assert config["pixels"]["meta"] == {"pixel_id": "1234567890", "event": "PageView",
                                        "custom": False}  # fmt: skip
    assert set(config["pixels"]) == set(PIXELS)


def test_the_page_without_javascript_refreshes_to_the_destination_and_shows_a_link():
    decision = run(pixel_link())
    page = Parsed(decision.body)
    (refresh,) = [m for m in page.all("meta") if m.get("http-equiv") == "refresh"]
    assert refresh["content"] == "0;url=" + decision.location
    assert '<noscript><meta http-equiv="refresh"' in decision.body
    (anchor,) = page.all("a")
    assert anchor["href"] == decision.location


def test_the_inline_script_and_style_carry_the_csp_nonce_and_it_is_new_each_time():
    first, second = run(pixel_link()), run(pixel_link())
    csp = first.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp).group(1)
    page = Parsed(first.body)
    assert [s["nonce"] for s in page.all("script")] == [nonce]
    assert [s["nonce"] for s in page.all("style")] == [nonce]
    assert len(nonce) >= 22
    assert nonce not in second.headers["Content-Security-Policy"]


def test_the_csp_allows_only_the_configured_pixels_hosts():
    csp = content_security_policy("N", {"meta": PIXELS["meta"]})
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'nonce-N' https://connect.facebook.net"
    assert directives["img-src"] == "https://www.facebook.com"
    assert directives["connect-src"] == "https://connect.facebook.net https://www.facebook.com"
    assert "frame-src" not in directives  # default-src 'none' covers it
    assert directives["base-uri"] == directives["form-action"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_the_csp_of_every_pixel_names_each_platforms_script_host():
    csp = run(pixel_link()).headers["Content-Security-Policy"]
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    for host in (
        "https://connect.facebook.net",
        "https://*.googletagmanager.com",
        "https://analytics.tiktok.com",
        "https://snap.licdn.com",
        "https://s.pinimg.com",
        "https://sc-static.net",
        "https://www.redditstatic.com",
    ):
        assert host in script_src.split()


def test_ga4_alone_does_not_open_the_google_ads_hosts():
    csp = content_security_policy("N", {"google": {"tag_ids": ["G-1"]}})
    assert "doubleclick" not in csp and "googleadservices" not in csp


# --- Nothing unescaped ---------------------------------------------------------------------------

HOSTILE = "</script><script>alert(1)</script><!--"


def test_hostile_values_in_the_destination_and_the_pixel_ids_stay_inert():
    doc = pixel_link(
        pixels={"meta": {"pixel_id": HOSTILE, "event": '"><img src=x onerror=alert(1)>'}},
        forward_query=True,
    )
    request = facts(query={"q": HOSTILE, "x": "\"'><svg onload=alert(1)>&amp;"})
    decision = run(doc, request=request)
    body = decision.body
    assert decision.status == 200
    assert "<script>alert" not in body and "<svg" not in body and "<img" not in body
    assert body.count("</script>") == 1 and body.count("<script") == 1
    page = Parsed(body)
    assert page.all("a")[0]["href"] == decision.location  # the attribute decodes back exactly
    assert config_of(body)["pixels"]["meta"]["pixel_id"] == HOSTILE  # the JSON does too


def test_script_json_escapes_what_could_end_or_confuse_a_script_element():
    text = script_json({"a": "</script>", "b": "<!--", "c": "]]>", "d": "&", "e": "\u2028"})
    assert not set("<>&") & set(text)
    assert "\u2028" not in text
    assert json.loads(text)["a"] == "</script>"


def test_a_destination_that_is_not_http_never_gets_the_page():
    doc = pixel_link(url="javascript:alert(1)")
    assert run(doc).status == 302


def test_render_is_a_function_of_its_inputs_and_the_nonce():
    a = render("https://shop.example/", CLICK_ID, {"tiktok": PIXELS["tiktok"]}, nonce="abc")
    b = render("https://shop.example/", CLICK_ID, {"tiktok": PIXELS["tiktok"]}, nonce="abc")
    assert a == b and "'nonce-abc'" in a.content_security_policy


# --- pixels_for ----------------------------------------------------------------------------------


def test_pixels_for_takes_the_public_ids_of_the_platforms_sent_to():
    platforms = {
        "meta": {"pixel_id": "1", "access_token": "ssm:/m", "page_view_event": "LinkClick"},
        "google": {"ga4_measurement_id": "G-1", "ads_tag_id": "AW-2", "ga4_api_secret": "ssm:/g"},
        "linkedin": {"conversion_rule": "urn:lla:llaPartnerConversion:1", "access_token": "x"},
        "snapchat": {"pixel_id": "s-1", "access_token": "ssm:/s"},
        "reddit": {"pixel_id": "t2_r", "access_token": "ssm:/r"},
    }
    pixels = pixels_for(platforms, ["meta", "google", "linkedin", "reddit", "tiktok", "meta"])
    assert pixels == {
        "google": {"tag_ids": ["G-1", "AW-2"]},
        "meta": {"pixel_id": "1", "event": "LinkClick"},
        "reddit": {"pixel_id": "t2_r"},
    }
    assert "ssm:" not in json.dumps(pixels)  # never a credential reference


def test_a_custom_meta_click_event_is_tracked_as_custom():
    page = render(
        "https://shop.example/", CLICK_ID, {"meta": {"pixel_id": "1", "event": "LinkClick"}}
    )
    assert config_of(page.body)["pixels"]["meta"]["custom"] is True
