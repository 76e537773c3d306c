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

from chalicelib.links.pixels import PIXELS
from chalicelib.redirect.consent import CONSENT_PARAM, DENIED, needs_choice, read_consent
from chalicelib.redirect.consent_page import STYLE, choice_form, choice_policy, safe_return
from chalicelib.redirect.request import RequestFacts

CONTENT_TYPE = "text/html; charset=utf-8"
DEADLINE_MS = 800  # leave by then even if a pixel never loads
GRACE_MS = 250  # after the last script loads: time for its first beacon to go out


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
    known = {name: PIXELS[name].page(dict(ids)) for name, ids in pixels.items() if name in PIXELS}
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
    names = [pixel.label for name, pixel in PIXELS.items() if name in pixels]
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
    sources = [
        s for name, ids in pixels.items() if name in PIXELS for s in PIXELS[name].csp_sources(ids)
    ]

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

# The page's script: the loader (leave for the destination once every pixel's script has loaded,
# or at the deadline), each pixel's snippet from the table in links/pixels.py, and leave at once
# when nothing is loading.
_LOADER = """
var done=false,pending=0,p=c.pixels,id=c.id;
function go(){if(done)return;done=true;w.location.replace(c.to);}
setTimeout(go,c.wait);
function settle(){if(--pending<=0)setTimeout(go,c.grace);}
function load(src){pending++;var s=d.createElement('script');s.async=true;s.src=src;
s.onload=settle;s.onerror=settle;(d.head||d.documentElement).appendChild(s);}
"""
_SCRIPT = _LOADER + "".join(pixel.snippet for pixel in PIXELS.values()) + "if(!pending)go();\n"
