"""The first-party consent choice in Chromium: /_/consent works without JavaScript (Accept -> the
cookie -> back at the link), and a pixel link asks a require_in visitor before any pixel loads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.links.plan import make_plan
from chalicelib.links.store import ConfigStore
from infra.provision import load_app
from tests.browser.conftest import specs
from tests.browser.server import serve


@pytest.fixture
def eu_server(aws, destination) -> Iterator[str]:
    """As `server`, on a domain with `require_in: [EU]`: the local server names no country, so
    every visitor counts as inside the region until they choose."""
    config = replace(
        specs(destination),
        domains=[{"name": "go.localhost", "consent": {"honor_gpc": True, "require_in": ["EU"]}}],
    )
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    store.write(make_plan(config, store.read_all()).writes())
    module = load_app()
    module.redirect_handler.cache_clear()
    try:
        with serve(module) as port:
            yield f"http://go.localhost:{port}"
    finally:
        module.redirect_handler.cache_clear()


def cookies(browser) -> dict[str, dict]:
    return {c["name"]: c for c in browser.page.context.cookies()}


def press(browser, label: str, destination: str) -> None:
    browser.page.get_by_role("button", name=label, exact=True).click()
    browser.page.wait_for_url(destination + "**", wait_until="commit", timeout=5000)


def test_the_consent_page_works_without_javascript_accept_sets_the_cookie_and_returns_to_the_link(
    server, destination, open_browser
):
    browser = open_browser(javascript=False)
    browser.page.goto(f"{server}/_/consent?return=/summer?fbclid=IwAR-Br0wser")
    assert browser.page.locator("html").get_attribute("lang") == "en"
    press(browser, "Accept", destination)
    # Back through the link: it added its click id and forwarded the visitor's parameters.
    query = parse_qs(urlsplit(browser.page.url).query)
    assert query["fbclid"] == ["IwAR-Br0wser"] and len(query["rb_cid"]) == 1
    jar = cookies(browser)
    assert jar["rb_consent"]["value"] == "1"
    assert jar["rb_consent"]["httpOnly"] and jar["rb_consent"]["sameSite"] == "Lax"
    assert "rb_vid" in jar  # the link saw the grant: a first-party visitor id
    assert not [m for m in browser.console if "Content Security Policy" in m], browser.console


def test_a_pixel_link_asks_before_any_pixel_and_declining_lands_without_one(
    eu_server, destination, open_browser
):
    browser = open_browser(javascript=False)
    browser.page.goto(f"{eu_server}/summer")
    assert browser.page.get_by_role("button", name="Decline", exact=True).is_visible()
    # Decline posts to /_/consent, whose 303 leads back to the link, which redirects off-site:
    # the page's form-action must let that chain through.
    press(browser, "Decline", destination)
    browser.page.wait_for_load_state()
    assert browser.page.title() == "landed"
    jar = cookies(browser)
    assert jar["rb_consent"]["value"] == "0" and "rb_vid" not in jar
    assert browser.pixel_requests() == [] and browser.calls == []


def test_accepting_on_a_pixel_link_loads_the_pixels_with_the_click_id(
    eu_server, destination, open_browser
):
    browser = open_browser()
    browser.page.goto(f"{eu_server}/summer")
    browser.page.wait_for_load_state()
    assert browser.pixel_requests() == [] and browser.calls == []  # nothing before the choice
    press(browser, "Accept", destination)
    browser.page.wait_for_load_state()
    (click_id,) = parse_qs(urlsplit(browser.page.url).query)["rb_cid"]
    assert ["fbq", "track", "PageView", {}, {"eventID": click_id}] in browser.calls
    assert cookies(browser)["rb_consent"]["value"] == "1"


def test_continuing_without_a_choice_lands_without_a_pixel(eu_server, destination, open_browser):
    browser = open_browser()
    browser.page.goto(f"{eu_server}/summer")
    browser.page.get_by_role("link", name="without sharing").click()
    browser.page.wait_for_url(destination + "**", wait_until="commit", timeout=5000)
    browser.page.wait_for_load_state()
    assert browser.pixel_requests() == [] and browser.calls == []
    assert "rb_consent" not in cookies(browser)
