"""Plain-value builders for redirect tests: a link doc, a site, a request, a visitor."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from chalicelib.redirect import RequestFacts, Visitor, read_visitor

NOW = datetime(2026, 11, 15, 12, 0, 0, 123456, tzinfo=UTC)
SALT = b"salt-of-the-day"
CLICK_ID = "01JD0000000000000000000000"
COUNTRY = "US"  # outside SITE's require_in: consent not required unless a test says otherwise

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0"
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)

SITE: dict[str, Any] = {
    "name": "go.example",
    "root_url": "https://shop.example/",
    "not_found_url": "https://shop.example/missing",
    "consent": {"honor_gpc": True, "honor_dnt": True, "require_in": ["AT", "DE", "FR"]},
}

SPEC: dict[str, Any] = {
    "domain": "go.example",
    "slug": "spring-sale",
    "url": "https://shop.example/sale",
    "redirect": 302,
    "mode": "redirect",
    "campaign": "spring",
    "tags": ["sale", "pricing"],
    "utm": None,
    "forward_query": False,
    "track_conversions": False,
    "rules": [],
    "split": None,
    "starts_at": None,
    "expires_at": None,
    "expired_url": None,
    "max_clicks": None,
}


def site(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(SITE)
    out.update(changes)
    return out


def link(
    site_doc: dict[str, Any] | None = None, audiences: list | None = None, **spec: Any
) -> dict:
    """A stored link doc: {"spec", "site", "audiences"}."""
    out = copy.deepcopy(SPEC)
    out.update(spec)
    return {
        "spec": out,
        "site": site_doc if site_doc is not None else site(),
        "audiences": audiences if audiences is not None else [],
    }


def facts(
    path: str = "/spring-sale",
    query: Any = None,
    *,
    ua: str | None = CHROME,
    method: str = "GET",
    host: str = "go.example",
    ip: str = "203.0.113.7",
    **headers: str,
) -> RequestFacts:
    """Headers as keyword arguments: ``accept_language="de"`` -> ``Accept-Language: de``."""
    hdrs = {name.replace("_", "-"): value for name, value in headers.items()}
    if ua is not None:
        hdrs["User-Agent"] = ua
    hdrs.setdefault("Host", host)
    if not any(name.lower() == "cloudfront-viewer-country" for name in hdrs):
        # CloudFront says where each visitor is; `cloudfront_viewer_country=""`: it did not.
        hdrs["CloudFront-Viewer-Country"] = COUNTRY
    return RequestFacts.from_request(
        method=method, host=None, path=path, query=query, headers=hdrs, source_ip=ip
    )


def visitor(request: RequestFacts, site_doc: dict[str, Any] | None = None) -> Visitor:
    return read_visitor(request, site_doc if site_doc is not None else site(), salt=SALT)
