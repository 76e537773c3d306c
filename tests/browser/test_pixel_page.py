"""The `mode: pixel` page in Chromium: the pixels fire with the click id, the visitor lands fast,
with or without JavaScript, and a visitor who denied consent loads no pixel at all."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from tests.browser.conftest import BEACON_HOSTS, PLATFORMS, SCRIPTS


def visit(browser, url: str, destination: str) -> float:
    """Open `url`; seconds from the short link's response to the destination's."""
    browser.page.goto(url, wait_until="commit")
    start = time.monotonic()
    browser.page.wait_for_url(destination + "**", wait_until="commit", timeout=5000)
    return time.monotonic() - start


def landed_click_id(browser) -> str:
    (click_id,) = parse_qs(urlsplit(browser.page.url).query)["rb_cid"]
    return click_id


def test_every_pixel_fires_with_the_click_id_and_the_visitor_lands_within_a_second(
    server, destination, open_browser
):
    browser = open_browser()
    elapsed = visit(browser, f"{server}/summer?fbclid=IwAR-Br0wser", destination)
    assert elapsed < 1.0, f"landed after {elapsed:.3f} s"
    browser.page.wait_for_load_state()
    assert browser.page.title() == "landed"
    cid = landed_click_id(browser)
    assert parse_qs(urlsplit(browser.page.url).query)["fbclid"] == ["IwAR-Br0wser"]

    calls = browser.calls
    assert ["fbq", "init", PLATFORMS["meta"]["pixel_id"]] in calls
    assert ["fbq", "track", "PageView", {}, {"eventID": cid}] in calls
    assert ["ttq", "track", "ViewContent", {}, {"event_id": cid}] in calls
    assert ["pintrk", "load", PLATFORMS["pinterest"]["tag_id"]] in calls
    assert ["pintrk", "track", "pagevisit", {"event_id": cid}] in calls
    assert ["snaptr", "init", PLATFORMS["snapchat"]["pixel_id"], {}] in calls
    assert ["snaptr", "track", "PAGE_VIEW", {"client_dedup_id": cid}] in calls
    assert ["rdt", "init", PLATFORMS["reddit"]["pixel_id"]] in calls
    assert ["rdt", "track", "PageVisit", {"conversionId": cid}] in calls
    assert ["linkedin", PLATFORMS["linkedin"]["insight_partner_id"]] in calls
    for tag in ("G-REBOUND1", "AW-123456789"):
        assert ["gtag", "config", tag, {"rb_click_id": cid}] in calls

    # Each library was fetched once, TikTok's with its pixel code, gtag.js with the first tag...
    fetched = [u for u in browser.requests if any(u.startswith(s) for s in SCRIPTS)]
    assert len(fetched) == len(SCRIPTS)
    assert any("sdkid=C0DE1234" in u for u in fetched)
    assert any("gtag/js?id=G-REBOUND1" in u for u in fetched)
    # ...each beacon got through the page's Content-Security-Policy, and nothing was refused.
    beacons = {urlsplit(u).hostname for u in browser.requests} & BEACON_HOSTS
    assert beacons == BEACON_HOSTS
    assert not [m for m in browser.console if "Content Security Policy" in m], browser.console


def test_a_pixel_that_never_loads_does_not_hold_the_visitor(server, destination, open_browser):
    browser = open_browser()
    browser.hang.add("tiktok")
    elapsed = visit(browser, f"{server}/summer", destination)
    assert 0.6 < elapsed < 1.0, f"landed after {elapsed:.3f} s"
    assert ["fbq", "track", "PageView", {}, {"eventID": landed_click_id(browser)}] in browser.calls


def test_without_javascript_the_meta_refresh_lands_on_the_destination(
    server, destination, open_browser
):
    browser = open_browser(javascript=False)
    elapsed = visit(browser, f"{server}/summer", destination)
    assert elapsed < 1.0
    assert browser.page.url.startswith(destination + "?rb_cid=")
    assert browser.pixel_requests() == [] and browser.calls == []


def test_with_consent_denied_no_pixel_request_is_made(server, destination, open_browser):
    browser = open_browser(headers={"Sec-GPC": "1"})
    visit(browser, f"{server}/summer", destination)
    browser.page.wait_for_load_state()
    assert browser.page.title() == "landed"
    assert browser.pixel_requests() == []
    assert browser.calls == []
