"""The `mode: pixel` page in Chromium: the pixels fire with the click id, the visitor leaves as
soon as they have loaded (or at the page's deadline, if one never does), with or without
JavaScript, and a visitor who denied consent loads no pixel at all.

The page's timers run on Playwright's paused clock: each test moves time on itself and sees which
timer sends the visitor away, so nothing depends on how fast the machine is."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

from tests.browser.conftest import BEACON_HOSTS, PLATFORMS, SCRIPTS

PAGE_CALLS = ("fbq", "gtag", "ttq", "linkedin", "pintrk", "snaptr", "rdt", "twq")  # one per pixel
GUARD_MS = 10_000  # how long Playwright waits for a page event before failing: a hang guard


def open_paused(browser, url: str) -> dict:
    """Open the short link with the page's clock paused; the page's timers: `wait` (leave by
    then in any case) and `grace` (leave this long after the last pixel loaded), in ms."""
    browser.page.clock.install(time=0)
    browser.page.clock.pause_at(1000)
    browser.page.goto(url, wait_until="domcontentloaded", timeout=GUARD_MS)
    config = re.search(r"\(window,document,(\{.*?\})\);</script>", browser.page.content())
    assert config, "the page's script has no config"
    timers = json.loads(config.group(1))
    return {"wait": timers["wait"], "grace": timers["grace"]}


def wait_for_calls(browser, names: set[str]) -> None:
    """Until the stubbed libraries of these pixels have reported what the page queued for them."""
    for _ in range(GUARD_MS // 20):
        if names <= {call[0] for call in browser.calls}:
            return
        browser.page.wait_for_timeout(20)  # Playwright's own timer, not the page's
    raise AssertionError(f"pixels never loaded: {names - {call[0] for call in browser.calls}}")


def still_on_the_page(browser, server: str) -> bool:
    """No timer of the page has sent the visitor on yet."""
    from playwright.sync_api import Error

    try:  # a round trip to the page: a navigation a timer started has begun by its answer
        browser.page.evaluate("0")
    except Error:  # "execution context was destroyed": the page is leaving
        return False
    return browser.page.url.startswith(server) and not any(
        u.startswith("http://shop.localhost") for u in browser.requests
    )


def lands(browser, destination: str) -> None:
    browser.page.wait_for_url(destination + "**", wait_until="commit", timeout=GUARD_MS)


def landed_click_id(browser) -> str:
    (click_id,) = parse_qs(urlsplit(browser.page.url).query)["rb_cid"]
    return click_id


def test_every_pixel_fires_with_the_click_id_and_the_visitor_leaves_once_they_have_loaded(
    server, destination, open_browser
):
    browser = open_browser()
    timers = open_paused(browser, f"{server}/summer?fbclid=IwAR-Br0wser")
    assert timers["grace"] < timers["wait"] < 1000  # the deadline: under a second
    browser.page.wait_for_load_state("load", timeout=GUARD_MS)  # every pixel script has loaded

    browser.page.clock.run_for(timers["grace"] - 1)
    assert still_on_the_page(browser, server)
    browser.page.clock.run_for(1)  # the grace after the last pixel, well before the deadline
    lands(browser, destination)
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
    assert ["twq", "config", PLATFORMS["x"]["pixel_id"]] in calls
    assert ["twq", "event", "tw-o8z6j-o87ne", {"conversion_id": cid}] in calls
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
    timers = open_paused(browser, f"{server}/summer")
    wait_for_calls(browser, set(PAGE_CALLS) - {"ttq"})  # all the others have loaded

    browser.page.clock.run_for(timers["wait"] - 1)
    assert still_on_the_page(browser, server)  # TikTok's script holds back the grace timer...
    browser.page.clock.run_for(1)  # ...not the deadline
    lands(browser, destination)
    assert ["fbq", "track", "PageView", {}, {"eventID": landed_click_id(browser)}] in browser.calls


def test_without_javascript_the_meta_refresh_lands_on_the_destination(
    server, destination, open_browser
):
    browser = open_browser(javascript=False)
    pages: list[str] = []

    def keep_the_page(route) -> None:  # Playwright's fetch cannot resolve *.localhost itself
        parts = urlsplit(route.request.url)
        response = route.fetch(
            url=parts._replace(netloc=f"127.0.0.1:{parts.port}").geturl(),
            headers={**route.request.headers, "host": parts.netloc},
        )
        pages.append(response.text())
        route.fulfill(response=response)

    browser.page.route(f"{server}/**", keep_the_page)
    browser.page.goto(f"{server}/summer", wait_until="commit", timeout=GUARD_MS)
    lands(browser, destination)
    (page,) = pages
    assert re.search(r'<noscript><meta http-equiv="refresh" content="0;url=', page)  # at once
    assert browser.page.url.startswith(destination + "?rb_cid=")
    assert browser.pixel_requests() == [] and browser.calls == []


def test_with_consent_denied_no_pixel_request_is_made(server, destination, open_browser):
    browser = open_browser(headers={"Sec-GPC": "1"})
    browser.page.goto(f"{server}/summer", wait_until="commit", timeout=GUARD_MS)
    lands(browser, destination)
    browser.page.wait_for_load_state()
    assert browser.page.title() == "landed"
    assert browser.pixel_requests() == []
    assert browser.calls == []
