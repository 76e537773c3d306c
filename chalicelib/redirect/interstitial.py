"""`mode: pixel`: a page that loads the platforms' browser pixels, then leaves for the destination.

The pixels fire with the click id as their event id, the id the server-side event of the same click
carries, so each platform counts the visit once. The page leaves with ``location.replace`` (the
page stays out of the history) as soon as every pixel script has loaded, or after ``DEADLINE_MS``
whatever they do; without JavaScript a ``<noscript>`` meta refresh leaves at once, and a visible
link is there for anyone still looking.

Only people get the page: bots, HEAD requests and visitors whose consent is denied get the plain
redirect (see ``shows_pixels``). Visitors of a ``require_in`` region who have not chosen yet are
asked first (``asks_for_choice``, ``render_choice``): a page with no script and no pixel, the
first-party Accept / Decline form of ``/_/consent`` (which returns them to this link) and a link
that continues to the destination without sharing. Pure: the page is a function of (destination, click id, pixels,
nonce). Every value is escaped where it lands: JSON in the script with ``<``, ``>`` and ``&``
escaped, attributes and text through ``html.escape``. The Content-Security-Policy allows the inline
script by a per-response nonce and loads from the configured platforms' hosts only.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from chalicelib.redirect.consent import CONSENT_PARAM, DENIED, needs_choice, read_consent
from chalicelib.redirect.consent_page import STYLE, choice_form, choice_policy, safe_return
from chalicelib.redirect.request import RequestFacts

CONTENT_TYPE = "text/html; charset=utf-8"
DEADLINE_MS = 800  # leave by then even if a pixel never loads
GRACE_MS = 250  # after the last script loads: time for its first beacon to go out
PIXEL_PLATFORMS = ("meta", "google", "tiktok", "linkedin", "pinterest", "snapchat", "reddit")
PLATFORM_NAMES = {
    "meta": "Meta",
    "google": "Google",
    "tiktok": "TikTok",
    "linkedin": "LinkedIn",
    "pinterest": "Pinterest",
    "snapchat": "Snapchat",
    "reddit": "Reddit",
}

# Meta's standard events go through fbq('track'); any other name through fbq('trackCustom').
META_STANDARD_EVENTS = frozenset(
    {
        "AddPaymentInfo",
        "AddToCart",
        "AddToWishlist",
        "CompleteRegistration",
        "Contact",
        "CustomizeProduct",
        "Donate",
        "FindLocation",
        "InitiateCheckout",
        "Lead",
        "PageView",
        "Purchase",
        "Schedule",
        "Search",
        "StartTrial",
        "SubmitApplication",
        "Subscribe",
        "ViewContent",
    }
)


@dataclass(frozen=True)
class Sources:
    """Hosts one pixel loads scripts from, sends images and requests to, and frames."""

    script: tuple[str, ...]
    img: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    frame: tuple[str, ...] = ()


# From each platform's documented CSP requirements for its tag.
SOURCES: dict[str, Sources] = {
    "meta": Sources(
        script=("https://connect.facebook.net",),
        img=("https://www.facebook.com",),
        connect=("https://www.facebook.com", "https://connect.facebook.net"),
    ),
    "ga4": Sources(
        script=("https://*.googletagmanager.com",),
        img=("https://*.google-analytics.com", "https://*.googletagmanager.com"),
        connect=(
            "https://*.google-analytics.com",
            "https://*.analytics.google.com",
            "https://*.googletagmanager.com",
        ),
    ),
    "google_ads": Sources(
        script=(
            "https://*.googletagmanager.com",
            "https://www.googleadservices.com",
            "https://googleads.g.doubleclick.net",
            "https://www.google.com",
        ),
        img=("https://googleads.g.doubleclick.net", "https://www.google.com"),
        connect=(
            "https://*.googletagmanager.com",
            "https://*.g.doubleclick.net",
            "https://www.google.com",
        ),
        frame=("https://td.doubleclick.net", "https://www.googletagmanager.com"),
    ),
    "tiktok": Sources(
        script=("https://analytics.tiktok.com",),
        img=("https://analytics.tiktok.com",),
        connect=("https://analytics.tiktok.com", "https://analytics-ipv6.tiktokw.us"),
    ),
    "linkedin": Sources(
        script=("https://snap.licdn.com",),
        img=("https://px.ads.linkedin.com",),
        connect=("https://px.ads.linkedin.com", "https://px4.ads.linkedin.com"),
    ),
    "pinterest": Sources(
        script=("https://s.pinimg.com",),
        img=("https://ct.pinterest.com",),
        connect=("https://ct.pinterest.com",),
    ),
    "snapchat": Sources(
        script=("https://sc-static.net",),
        img=("https://tr.snapchat.com",),
        connect=("https://tr.snapchat.com", "https://tr-shadow.snapchat.com"),
    ),
    "reddit": Sources(
        script=("https://www.redditstatic.com",),
        img=("https://alb.reddit.com",),
        connect=("https://alb.reddit.com", "https://pixel-config.reddit.com"),
    ),
}


# ---------------------------------------------------------------------------- at click time


def shows_pixels(
    pixels: Mapping[str, Any] | None,
    *,
    method: str,
    is_bot: bool,
    consent: str,
    click_id: str | None,
    destination: str | None,
) -> bool:
    """Whether this request gets the page rather than the plain redirect."""
    return consent != DENIED and _is_for_a_page(pixels, method, is_bot, click_id, destination)


def asks_for_choice(
    pixels: Mapping[str, Any] | None,
    *,
    facts: RequestFacts,
    consent: str,
    country: str | None,
    settings: Mapping[str, Any] | None,
    is_bot: bool,
    click_id: str | None,
    destination: str | None,
) -> bool:
    """Whether this request gets the consent choice: a person who would see the pixels but for
    having made no choice in a ``require_in`` region (``settings``: the domain's consent)."""
    return (
        consent == DENIED
        and _is_for_a_page(pixels, facts.method, is_bot, click_id, destination)
        # The visitor carries the state only: its reason is read again (pure, and only here).
        and needs_choice(read_consent(facts, settings, country))
    )


def _is_for_a_page(
    pixels: Mapping[str, Any] | None,
    method: str,
    is_bot: bool,
    click_id: str | None,
    destination: str | None,
) -> bool:
    """A person's GET of a link with pixels, a click id and a web destination."""
    return (
        bool(pixels)
        and method == "GET"
        and not is_bot
        and bool(click_id)
        and _is_web_url(destination)
    )


@dataclass(frozen=True)
class Page:
    body: str
    content_security_policy: str
    nonce: str


def render(
    destination: str,
    click_id: str,
    pixels: Mapping[str, Mapping[str, Any]],
    *,
    nonce: str | None = None,
    deadline_ms: int = DEADLINE_MS,
) -> Page:
    """The interstitial page and its Content-Security-Policy (with a fresh nonce by default)."""
    nonce = nonce or secrets.token_urlsafe(18)
    known = {name: dict(p) for name, p in pixels.items() if name in PIXEL_PLATFORMS}
    if "meta" in known:
        known["meta"]["custom"] = known["meta"].get("event") not in META_STANDARD_EVENTS
    config = {
        "to": destination,
        "id": click_id,
        "pixels": known,
        "wait": int(deadline_ms),
        "grace": GRACE_MS,
    }
    href = escape(destination, quote=True)
    where = escape(urlsplit(destination).hostname or destination, quote=True)
    nonce_attr = escape(nonce, quote=True)
    body = _TEMPLATE.format(
        refresh=href,
        href=href,
        where=where,
        nonce=nonce_attr,
        config=script_json(config),
        script=_SCRIPT,
    )
    return Page(body, content_security_policy(nonce, known), nonce)


def render_choice(
    destination: str,
    facts: RequestFacts,
    pixels: Mapping[str, Mapping[str, Any]],
    *,
    nonce: str | None = None,
) -> Page:
    """The consent choice in place of the pixels: no script, nothing loaded. Accept or Decline
    posts to ``/_/consent``, which sets the choice and returns here; the link continues to the
    destination without sharing."""
    nonce = nonce or secrets.token_urlsafe(18)
    names = [PLATFORM_NAMES[name] for name in PIXEL_PLATFORMS if name in pixels]
    body = _CHOICE_TEMPLATE.format(
        nonce=escape(nonce, quote=True),
        style=STYLE,
        host=escape(facts.host or "This site", quote=True),
        partners=escape(_spoken_list(names) or "its advertising partners"),
        form=choice_form(return_path(facts)),
        href=escape(destination, quote=True),
        where=escape(urlsplit(destination).hostname or destination, quote=True),
    )
    return Page(body, choice_policy(nonce), nonce)


def return_path(facts: RequestFacts) -> str:
    """This short link as the visitor asked for it, for the choice to come back to (its query
    kept, minus any ``rb_consent``)."""
    query = urlencode([(k, v) for k, v in facts.query if k != CONSENT_PARAM])
    return safe_return(f"/{facts.slug or ''}" + (f"?{query}" if query else ""))


def _spoken_list(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def content_security_policy(nonce: str, pixels: Mapping[str, Mapping[str, Any]]) -> str:
    """default-src 'none'; scripts by nonce and from the pixels' hosts; nothing else."""
    sources = [SOURCES[group] for group in _source_groups(pixels)]

    def hosts(kind: str) -> list[str]:
        return sorted({h for s in sources for h in getattr(s, kind)})

    directives = [
        "default-src 'none'",
        " ".join([f"script-src 'nonce-{nonce}'", *hosts("script")]),
        f"style-src 'nonce-{nonce}'",
    ]
    for kind in ("img", "connect", "frame"):
        if hosts(kind):
            directives.append(" ".join([f"{kind}-src", *hosts(kind)]))
    directives += ["base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"]
    return "; ".join(directives)


def _source_groups(pixels: Mapping[str, Mapping[str, Any]]) -> list[str]:
    groups = []
    for name in pixels:
        if name == "google":
            tags = [str(t) for t in pixels[name].get("tag_ids") or []]
            if any(t.startswith("G-") for t in tags):
                groups.append("ga4")
            if any(t.startswith("AW-") for t in tags):
                groups.append("google_ads")
        elif name in SOURCES:
            groups.append(name)
    return groups


def script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no `</script>`, `<!--` or `]]>` can form."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _is_web_url(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Redirecting…</title>
<noscript><meta http-equiv="refresh" content="0;url={refresh}"></noscript>
<style nonce="{nonce}">body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;color:#555}}a{{color:#225}}</style>
<script nonce="{nonce}">(function(w,d,c){{{script}}})(window,document,{config});</script>
</head>
<body>
<p>Taking you to <a href="{href}">{where}</a>…</p>
</body>
</html>
"""

_CHOICE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Before you continue</title>
<style nonce="{nonce}">{style}</style>
</head>
<body>
<main>
<h1>Before you continue to {where}</h1>
<p id="consent-what">{host} would like to tell {partners} that you followed this link, so that
they can measure its ads and show you related ones. Nothing is shared unless you accept. Either
way, you then continue to {where}.</p>
{form}
<p><a href="{href}">Continue to {where} without sharing</a></p>
</main>
</body>
</html>
"""

# The platforms' own snippets, as published, with their script insertion replaced by `load`
# (which tracks when each has loaded). Each defines the queueing stub its library expects and
# queues the page event with the click id as the event id.
_SCRIPT = """
var done=false,pending=0,p=c.pixels,id=c.id;
function go(){if(done)return;done=true;w.location.replace(c.to);}
setTimeout(go,c.wait);
function settle(){if(--pending<=0)setTimeout(go,c.grace);}
function load(src){pending++;var s=d.createElement('script');s.async=true;s.src=src;
s.onload=settle;s.onerror=settle;(d.head||d.documentElement).appendChild(s);}
if(p.meta){
var n=w.fbq=function(){n.callMethod?n.callMethod.apply(n,arguments):n.queue.push(arguments);};
if(!w._fbq)w._fbq=n;n.push=n;n.loaded=true;n.version='2.0';n.queue=[];
w.fbq('init',p.meta.pixel_id);
w.fbq(p.meta.custom?'trackCustom':'track',p.meta.event,{},{eventID:id});
load('https://connect.facebook.net/en_US/fbevents.js');}
if(p.google&&p.google.tag_ids.length){
w.dataLayer=w.dataLayer||[];w.gtag=function(){w.dataLayer.push(arguments);};
w.gtag('js',new Date());
for(var g=0;g<p.google.tag_ids.length;g++)w.gtag('config',p.google.tag_ids[g],{rb_click_id:id});
load('https://www.googletagmanager.com/gtag/js?id='+encodeURIComponent(p.google.tag_ids[0]));}
if(p.tiktok){
w.TiktokAnalyticsObject='ttq';var ttq=w.ttq=w.ttq||[];
ttq.methods=['page','track','identify','instances','debug','on','off','once','ready','alias','group','enableCookie','disableCookie','holdConsent','revokeConsent','grantConsent'];
ttq.setAndDefer=function(t,e){t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)));};};
for(var i=0;i<ttq.methods.length;i++)ttq.setAndDefer(ttq,ttq.methods[i]);
ttq.instance=function(t){for(var e=ttq._i[t]||[],k=0;k<ttq.methods.length;k++)ttq.setAndDefer(e,ttq.methods[k]);return e;};
ttq.load=function(e,n){var u='https://analytics.tiktok.com/i18n/pixel/events.js';
ttq._i=ttq._i||{};ttq._i[e]=[];ttq._i[e]._u=u;ttq._t=ttq._t||{};ttq._t[e]=+new Date();
ttq._o=ttq._o||{};ttq._o[e]=n||{};load(u+'?sdkid='+encodeURIComponent(e)+'&lib=ttq');};
ttq.load(p.tiktok.pixel_code);ttq.page();ttq.track('ViewContent',{},{event_id:id});}
if(p.linkedin){
w._linkedin_partner_id=p.linkedin.partner_id;
w._linkedin_data_partner_ids=w._linkedin_data_partner_ids||[];
w._linkedin_data_partner_ids.push(p.linkedin.partner_id);
if(!w.lintrk){w.lintrk=function(a,b){w.lintrk.q.push([a,b]);};w.lintrk.q=[];}
load('https://snap.licdn.com/li.lms-analytics/insight.min.js');}
if(p.pinterest){
if(!w.pintrk){w.pintrk=function(){w.pintrk.queue.push(Array.prototype.slice.call(arguments));};
w.pintrk.queue=[];w.pintrk.version='3.0';}
w.pintrk('load',p.pinterest.tag_id);w.pintrk('page');
w.pintrk('track','pagevisit',{event_id:id});
load('https://s.pinimg.com/ct/core.js');}
if(p.snapchat){
var a=w.snaptr=function(){a.handleRequest?a.handleRequest.apply(a,arguments):a.queue.push(arguments);};
a.queue=[];w.snaptr('init',p.snapchat.pixel_id,{});
w.snaptr('track','PAGE_VIEW',{client_dedup_id:id});
load('https://sc-static.net/scevent.min.js');}
if(p.reddit){
var r=w.rdt=function(){r.sendEvent?r.sendEvent.apply(r,arguments):r.callQueue.push(arguments);};
r.callQueue=[];w.rdt('init',p.reddit.pixel_id);
w.rdt('track','PageVisit',{conversionId:id});
load('https://www.redditstatic.com/ads/pixel.js');}
if(!pending)go();
"""
