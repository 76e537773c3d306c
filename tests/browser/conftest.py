"""A real Chromium against the real app: `chalice local` on a loopback port, moto behind it, and
every third-party host (the pixels, the destination) answered by `page.route` with small stubs.

Needs Debian's `chromium` and PyPI's `playwright` (its own browser download is not used). When
either is missing the tests FAIL, saying how to install it: they are part of the suite.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from infra.provision import load_app
from tests.browser.server import serve

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "the browser tests need Debian's chromium and PyPI's playwright: "
    "`make browser` (apt-get install -y chromium) and `.venv/bin/pip install -r requirements-dev.txt`"
)
DESTINATION_PATH = "/summer"
# Headless Chromium says "HeadlessChrome", which the redirect rightly takes for a bot.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)

PLATFORMS = {
    "meta": {"pixel_id": "1234567890", "access_token": "ssm:/rebound/local/meta-token"},
    "google": {
        "ga4_measurement_id": "G-REBOUND1",
        "ga4_api_secret": "ssm:/rebound/local/ga4-secret",
        "ads_tag_id": "AW-123456789",
    },
    "tiktok": {"pixel_code": "C0DE1234", "access_token": "ssm:/rebound/local/tiktok-token"},
    "linkedin": {
        "conversion_rule": "urn:lla:llaPartnerConversion:1",
        "access_token": "ssm:/rebound/local/linkedin-token",
        "insight_partner_id": "5151",
    },
    "pinterest": {
        "ad_account_id": "549755885175",
        "access_token": "ssm:/rebound/local/pinterest-token",
        "tag_id": "2612345678901",
    },
    "snapchat": {"pixel_id": "a1b2c3d4-e5f6", "access_token": "ssm:/rebound/local/snap-token"},
    "reddit": {"pixel_id": "t2_rebound", "access_token": "ssm:/rebound/local/reddit-token"},
    "x": {
        "pixel_id": "o8z6j",
        "events": {"click": "o87ne"},
        "consumer_key": "ssm:/rebound/local/x-consumer-key",
        "consumer_secret": "ssm:/rebound/local/x-consumer-secret",
        "access_token": "ssm:/rebound/local/x-access-token",
        "access_token_secret": "ssm:/rebound/local/x-access-token-secret",
    },
}


def specs(destination: str) -> Specs:
    return Specs(
        domains=[{"name": "go.localhost", "consent": {"honor_gpc": True}}],
        platforms=PLATFORMS,
        audiences=[{"id": "all", "match": {"tags": ["summer"]}, "send_to": sorted(PLATFORMS)}],
        links=[
            {
                "domain": "go.localhost",
                "slug": "summer",
                "url": destination,
                "mode": "pixel",
                "tags": ["summer"],
                "track_conversions": True,
                "forward_query": True,
            }
        ],
    )


# Each pixel library, stubbed: it reports what the page queued for it (through `__record`, a
# binding into the test) the way the real library would consume it, then sends one beacon to the
# platform's collection host, so the CSP's img-src is exercised too.
_QUEUED = {
    "meta": "window.fbq.queue.map(function(a){return ['fbq'].concat([].slice.call(a))})",
    "google": "window.dataLayer.map(function(a){return ['gtag'].concat([].slice.call(a))})",
    "tiktok": "[].slice.call(window.ttq).map(function(a){return ['ttq'].concat(a)})",
    "linkedin": "window._linkedin_data_partner_ids.map(function(p){return ['linkedin',p]})",
    "pinterest": "window.pintrk.queue.map(function(a){return ['pintrk'].concat(a)})",
    "snapchat": "window.snaptr.queue.map(function(a){return ['snaptr'].concat([].slice.call(a))})",
    "reddit": "window.rdt.callQueue.map(function(a){return ['rdt'].concat([].slice.call(a))})",
    "x": "window.twq.queue.map(function(a){return ['twq'].concat([].slice.call(a))})",
}
SCRIPTS = {  # script URL prefix -> (platform, beacon URL)
    "https://connect.facebook.net/en_US/fbevents.js": ("meta", "https://www.facebook.com/tr"),
    "https://www.googletagmanager.com/gtag/js": (
        "google",
        "https://region1.google-analytics.com/g/collect",
    ),
    "https://analytics.tiktok.com/i18n/pixel/events.js": (
        "tiktok",
        "https://analytics.tiktok.com/api/v2/pixel",
    ),
    "https://snap.licdn.com/li.lms-analytics/insight.min.js": (
        "linkedin",
        "https://px.ads.linkedin.com/collect",
    ),
    "https://s.pinimg.com/ct/core.js": ("pinterest", "https://ct.pinterest.com/v3/"),
    "https://sc-static.net/scevent.min.js": ("snapchat", "https://tr.snapchat.com/p"),
    "https://www.redditstatic.com/ads/pixel.js": ("reddit", "https://alb.reddit.com/rp.gif"),
    "https://static.ads-twitter.com/uwt.js": ("x", "https://analytics.twitter.com/1/i/adsct"),
}
BEACON_HOSTS = {urlsplit(beacon).hostname for _, beacon in SCRIPTS.values()}
PIXEL_HOSTS = {urlsplit(url).hostname for url in SCRIPTS} | BEACON_HOSTS
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000020144003b"
)


def stub(platform: str, beacon: str) -> str:
    return (
        "(function(){var calls=" + _QUEUED[platform] + ";"
        "calls.forEach(function(c){window.__record(JSON.stringify(c));});"
        f"new Image().src='{beacon}?n='+calls.length;}})();"
    )


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if path is None:
        pytest.fail(f"Chromium not found: {INSTALL_HINT}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not installed: {INSTALL_HINT}", pytrace=False)
    with sync_playwright() as p:
        yield p


class _Landing(BaseHTTPRequestHandler):
    """The merchant's landing page."""

    def do_GET(self) -> None:
        self.server.visits.append(self.path)  # type: ignore[attr-defined]
        body = b"<!doctype html><title>landed</title><p>Summer sale</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def destination() -> Iterator[str]:
    """The link's destination: a real page on http://shop.localhost:<port>/summer.

    Real rather than routed: Chromium does not route the request that follows a redirect, and
    `*.localhost` needs no DNS.
    """
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Landing)
    httpd.visits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://shop.localhost:{httpd.server_address[1]}{DESTINATION_PATH}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(aws, destination) -> Iterator[str]:
    """The app on http://go.localhost:<port> (chalice local), with the pixel link applied."""
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    store.write(make_plan(specs(destination), store.read_all()).writes())
    module = load_app()
    module.redirect_handler.cache_clear()
    try:
        with serve(module) as port:
            yield f"http://go.localhost:{port}"
    finally:
        module.redirect_handler.cache_clear()


@dataclass
class Browser:
    """A page in a fresh profile, with what it asked for and what its pixels were told."""

    page: Any
    requests: list[str] = field(default_factory=list)
    calls: list[list] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    hang: set[str] = field(default_factory=set)  # pixel platforms whose script never answers

    def calls_to(self, prefix: str) -> list[list]:
        return [c for c in self.calls if c[0] == prefix]

    def pixel_requests(self) -> list[str]:
        return [u for u in self.requests if urlsplit(u).hostname in PIXEL_HOSTS]


@pytest.fixture
def open_browser(playwright, chromium_path, tmp_path):
    """open_browser(javascript=True, headers=None) -> Browser; closed after the test."""
    contexts = []

    def open_(javascript: bool = True, headers: dict | None = None) -> Browser:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{len(contexts)}"),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            java_script_enabled=javascript,
            user_agent=USER_AGENT,
            extra_http_headers=headers or {},
        )
        contexts.append(context)
        page = context.pages[0] if context.pages else context.new_page()
        seen = Browser(page)
        context.expose_function("__record", lambda text: seen.calls.append(json.loads(text)))
        page.on("console", lambda m: seen.console.append(m.text))
        context.route("**/*", lambda route: _answer(route, seen))
        return seen

    yield open_
    for context in contexts:
        context.close()


def _answer(route: Any, seen: Browser) -> None:
    url = route.request.url
    seen.requests.append(url)
    host = urlsplit(url).hostname or ""
    if host.endswith(".localhost"):  # the short link and the destination: the real servers
        route.continue_()
        return
    for prefix, (platform, beacon) in SCRIPTS.items():
        if url.startswith(prefix):
            if platform in seen.hang:
                return  # never answered: the page must leave anyway
            route.fulfill(
                status=200, content_type="application/javascript", body=stub(platform, beacon)
            )
            return
    if host in BEACON_HOSTS:
        route.fulfill(status=200, content_type="image/gif", body=GIF)
        return
    route.abort()  # nothing else may be reached
