"""The redirect decision: a pure function of (link, site, request, visitor, now).

Read ``decide`` top to bottom for the order of evaluation. No I/O happens here: the caller
fetches the link and site, consumes ``max_clicks`` through a callback, sends the response and
records the click.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.redirect import pages
from chalicelib.redirect.destination import Destination, brought_utm, build_destination
from chalicelib.redirect.request import RequestFacts
from chalicelib.redirect.rules import first_matching_rule, parse_instant, split_arm
from chalicelib.redirect.visitor import Visitor

# Values of Decision.rule besides "rule:<i>" and "split:<i>".
DEFAULT, EXPIRED, LIMIT = "default", "expired", "limit"
NOT_FOUND, NOT_STARTED, ROOT, UNKNOWN_DOMAIN = "not_found", "not_started", "root", "unknown_domain"

PIXEL = "pixel"  # link mode: the interstitial page with browser pixels
REDIRECT_CODES = frozenset({301, 302, 307, 308})
NO_STORE = "private, no-store"
# A permanent redirect the browser may reuse for 5 minutes, never a shared cache: the Location
# depends on the visitor (rules, split), and an unbounded 301 would hide every later click.
PERMANENT_CACHE = "private, max-age=300"

Headers = dict[str, str | list[str]]


@dataclass(frozen=True)
class Decision:
    """What to answer. ``headers`` is complete (Location, Cache-Control, Set-Cookie, ...)."""

    status: int
    rule: str
    location: str | None
    headers: Headers
    body: str = ""
    link: Mapping[str, Any] | None = None  # the link spec, when the slug named one
    utm: dict[str, str | None] = field(default_factory=dict)
    # The location without the visitor's forwarded values: what the click record keeps.
    recorded_location: str | None = None

    @property
    def is_recorded(self) -> bool:
        """Whether this request becomes a click event (unknown domains do not)."""
        return self.rule != UNKNOWN_DOMAIN


def decide(
    doc: Mapping[str, Any] | None,
    site: Mapping[str, Any] | None,
    facts: RequestFacts,
    visitor: Visitor,
    now: datetime,
    *,
    click_id: str | None = None,
    consume_click: Callable[[], bool] | None = None,
) -> Decision:
    """Decide the response to one request on a short link.

    ``doc`` is the stored link doc (None: no such link); ``site`` the domain's site (None:
    unknown domain; defaults to ``doc["site"]``). ``click_id`` goes into ``rb_cid`` when the link
    tracks conversions. ``consume_click`` takes one of the link's ``max_clicks`` and returns
    False when none is left; it is called only for human clicks on a live link.
    """
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    spec = (doc or {}).get("spec") or None
    site = site if site is not None else (doc or {}).get("site")
    if site is None:
        return _page(404, UNKNOWN_DOMAIN, facts, None, None)
    if facts.is_root:
        return _site_fallback(site.get("root_url"), ROOT, facts, visitor, site)
    if spec is None or facts.slug is None:
        return _site_fallback(site.get("not_found_url"), NOT_FOUND, facts, visitor, site)
    if _is_future(spec.get("starts_at"), now):
        return _site_fallback(site.get("not_found_url"), NOT_STARTED, facts, visitor, site, spec)
    if _is_past(spec.get("expires_at"), now):
        return _expired(EXPIRED, spec, site, facts, visitor, click_id)
    if spec.get("max_clicks") is not None and not visitor.is_bot and not _take(consume_click):
        return _expired(LIMIT, spec, site, facts, visitor, click_id)
    url, rule = choose_url(spec, facts, visitor, now)
    status = spec.get("redirect") if spec.get("redirect") in REDIRECT_CODES else 302
    decision = _redirect(status, rule, url, spec, facts, visitor, click_id)
    if spec.get("mode") == PIXEL:
        return _pixel_page(decision, (doc or {}).get("pixels"), facts, visitor, click_id, site)
    return decision


def choose_url(
    spec: Mapping[str, Any], facts: RequestFacts, visitor: Visitor, now: datetime
) -> tuple[str, str]:
    """(url, rule taken): the first matching rule, else a split arm, else the link's url."""
    rules = spec.get("rules") or []
    index = first_matching_rule(rules, facts, visitor, now)
    if index is not None:
        return rules[index]["url"], f"rule:{index}"
    split = spec.get("split") or []
    arm = split_arm(
        split, visitor.visitor_id, f"{spec.get('domain')}/{spec.get('slug', '')}".lower()
    )
    if arm is not None:
        return split[arm]["url"], f"split:{arm}"
    return spec["url"], DEFAULT


def _is_future(value: Any, now: datetime) -> bool:
    instant = parse_instant(value) if isinstance(value, str) else None
    return instant is not None and now < instant


def _is_past(value: Any, now: datetime) -> bool:
    instant = parse_instant(value) if isinstance(value, str) else None
    return instant is not None and now >= instant


def _take(consume_click: Callable[[], bool] | None) -> bool:
    if consume_click is None:
        return True
    try:
        return bool(consume_click())
    except Exception:
        return True  # the counter is unreachable: a redirect never fails for it (DESIGN §8)


def _redirect(
    status: int,
    rule: str,
    url: str,
    spec: Mapping[str, Any],
    facts: RequestFacts,
    visitor: Visitor,
    click_id: str | None,
) -> Decision:
    tracked = bool(spec.get("track_conversions")) and bool(click_id)
    destination = build_destination(
        url,
        facts,
        utm=spec.get("utm"),
        forward_query=bool(spec.get("forward_query")),
        click_id=click_id if tracked else None,
    )
    cache = PERMANENT_CACHE if status in (301, 308) and not tracked else NO_STORE
    return _redirect_decision(status, rule, destination, cache, visitor, spec)


def _expired(
    rule: str,
    spec: Mapping[str, Any],
    site: Mapping[str, Any],
    facts: RequestFacts,
    visitor: Visitor,
    click_id: str | None,
) -> Decision:
    url = spec.get("expired_url") or site.get("expired_url")
    if not url:
        return _page(410, rule, facts, visitor, spec)
    return _redirect(302, rule, url, spec, facts, visitor, click_id)


def _site_fallback(
    url: str | None,
    rule: str,
    facts: RequestFacts,
    visitor: Visitor,
    site: Mapping[str, Any],
    spec: Mapping[str, Any] | None = None,
) -> Decision:
    """The domain's own fallback URL (only click ids forwarded), else the 404 page."""
    if not url:
        return _page(404, rule, facts, visitor, spec)
    return _redirect_decision(302, rule, build_destination(url, facts), NO_STORE, visitor, spec)


def _redirect_decision(
    status: int,
    rule: str,
    destination: Destination,
    cache: str,
    visitor: Visitor,
    spec: Mapping[str, Any] | None,
) -> Decision:
    headers: Headers = {
        "Location": destination.location,
        "Cache-Control": cache,
        "X-Robots-Tag": "noindex",
        # The modern browser default, pinned: the destination learns the referring site's
        # origin (its analytics need it) but never the full referring URL.
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    _add_cookies(headers, visitor)
    return Decision(
        status, rule, destination.location, headers, "", spec, destination.utm, destination.record
    )


def _pixel_page(
    redirect: Decision,
    pixels: Mapping[str, Any] | None,
    facts: RequestFacts,
    visitor: Visitor,
    click_id: str | None,
    site: Mapping[str, Any],
) -> Decision:
    """The interstitial for people whose pixels may fire; the consent choice, without any pixel,
    for people of a ``require_in`` region who have not chosen yet; the plain redirect for
    everyone else (bots, HEAD, consent denied, no pixel configured)."""
    from chalicelib.redirect import interstitial  # pixel-mode links only: off the cold start

    if interstitial.asks_for_choice(
        pixels,
        facts=facts,
        consent=visitor.consent,
        country=visitor.country,
        settings=site.get("consent"),
        is_bot=visitor.is_bot,
        click_id=click_id,
        destination=redirect.location,
    ):
        assert pixels is not None and redirect.location is not None
        page = interstitial.render_choice(redirect.location, facts, pixels)
    elif interstitial.shows_pixels(
        pixels,
        method=facts.method,
        is_bot=visitor.is_bot,
        consent=visitor.consent,
        click_id=click_id,
        destination=redirect.location,
    ):
        assert pixels is not None and click_id is not None and redirect.location is not None
        page = interstitial.render(redirect.location, click_id, pixels)
    else:
        return redirect
    headers: Headers = {
        "Content-Type": interstitial.CONTENT_TYPE,
        "Cache-Control": NO_STORE,  # a nonce and a click id: never reused
        "X-Robots-Tag": "noindex",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": page.content_security_policy,
    }
    _add_cookies(headers, visitor)
    return replace(redirect, status=200, headers=headers, body=page.body)


def _page(
    status: int,
    rule: str,
    facts: RequestFacts,
    visitor: Visitor | None,
    spec: Mapping[str, Any] | None,
) -> Decision:
    headers: Headers = {
        "Content-Type": pages.CONTENT_TYPE,
        "Cache-Control": NO_STORE,
        "X-Robots-Tag": "noindex",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": pages.PAGE_CSP,
    }
    if visitor is not None:
        _add_cookies(headers, visitor)
    body = "" if facts.method == "HEAD" else pages.page(status, facts.host, facts.slug)
    return Decision(status, rule, None, headers, body, spec, brought_utm(facts))


def _add_cookies(headers: Headers, visitor: Visitor) -> None:
    if visitor.set_cookies:
        headers["Set-Cookie"] = list(visitor.set_cookies)
