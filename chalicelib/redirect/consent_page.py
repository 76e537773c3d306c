"""The short domain's own consent choice: ``GET|POST /_/consent`` (docs/consent.md).

The only way a grant comes about: the visitor presses Accept on a page of the short domain
itself, a plain ``<form method=post>`` that works without JavaScript. The POST must come from this
origin (``Origin``, else ``Referer``, naming the request's host; ``Sec-Fetch-Site`` not cross-site
or same-site), so no other site can submit it for the visitor; the page cannot be framed, so it
cannot be clicked through a disguise either. The choice is remembered in the ``rb_consent``
cookie (``consent.read_consent`` reads it) and the visitor is sent back (303) to the short link
named by ``return``: a path on this host (``/`` or ``/<slug>``, with its query), never anything
else (an absolute URL, ``//host``, backslashes or control characters return to ``/``).

Plain values in, a ``Reply`` out; bad input is a 4xx, never an exception. Every value is escaped
where it lands.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from html import escape
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, urlsplit

from chalicelib.links.host import normalize_host
from chalicelib.redirect.consent import CONSENT_COOKIE, choice_cookie
from chalicelib.redirect.request import RequestFacts

CONSENT_PATH = "/_/consent"
RETURN_FIELD, CHOICE_FIELD = "return", "choice"
ACCEPT, DECLINE = "accept", "decline"
CONTENT_TYPE = "text/html; charset=utf-8"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_BODY = 4096  # the form sends two short fields
MAX_RETURN = 2048
# `/`, or one slug (with the trailing slash the redirect tolerates).
_RETURN_PATH_RE = re.compile(r"/(?:[A-Za-z0-9][A-Za-z0-9_-]{0,63}/?)?")
# Characters a query keeps as they are; anything else (spaces, quotes, non-ASCII) is %-escaped.
_QUERY_SAFE = "/?:@!$&'()*+,;=%-._~"
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Reply(NamedTuple):
    status: int
    headers: dict[str, Any]
    body: str


def answer(*, method: Any, query: Any, headers: Any, body: Any) -> Reply:
    """``/_/consent``: GET (or HEAD) shows the choice, POST records it."""
    facts = RequestFacts.from_request(
        method=method, host=None, path=CONSENT_PATH, query=query, headers=headers
    )
    if facts.method == "POST":
        return record_choice(facts, body)
    if facts.method in ("GET", "HEAD"):
        reply = show_choice(facts)
        return reply._replace(body="") if facts.method == "HEAD" else reply
    return _refuse(405, "Use GET to see the choice and POST to make it.", Allow="GET, HEAD, POST")


# ------------------------------------------------------------------------------------- GET


def show_choice(facts: RequestFacts) -> Reply:
    """The page: what Accept means, Accept / Decline, and a way back without choosing."""
    return_to = safe_return(facts.param(RETURN_FIELD))
    nonce = secrets.token_urlsafe(18)
    current = {"1": "You have accepted.", "0": "You have declined."}.get(
        facts.cookies.get(CONSENT_COOKIE, "").strip(), "You have not chosen yet."
    )
    where = escape(facts.host or "This site", quote=True)
    body = _PAGE.format(
        nonce=escape(nonce, quote=True),
        style=STYLE,
        where=where,
        current=escape(current),
        form=choice_form(return_to),
        back=escape(return_to, quote=True),
    )
    return Reply(200, page_headers(nonce, referrer_policy="same-origin"), body)


def page_headers(nonce: str, *, referrer_policy: str) -> dict[str, Any]:
    """Headers of a page that shows the choice (here and on a pixel link)."""
    return {
        "Content-Type": CONTENT_TYPE,
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",  # a consent button must never be clicked through a disguise
        # Not "no-referrer": a browser then sends `Origin: null` with the form, which is refused.
        "Referrer-Policy": referrer_policy,
        "Content-Security-Policy": choice_policy(nonce),
    }


def choice_policy(nonce: str) -> str:
    """No script, nothing loaded; the inline style by nonce; the form posts to this origin.

    ``form-action`` also governs the redirects that follow a submission (Chrome enforces it on each
    hop): the 303 back to the link stays here, but the link then redirects to its destination,
    which may be any web URL, hence the two schemes.
    """
    return "; ".join(
        [
            "default-src 'none'",
            f"style-src 'nonce-{nonce}'",
            "form-action 'self' https: http:",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def choice_form(return_to: str) -> str:
    """The Accept / Decline form (here and on a pixel link's page). ``return_to`` must come from
    ``safe_return``."""
    return _FORM.format(
        action=CONSENT_PATH,
        return_field=RETURN_FIELD,
        return_to=escape(return_to, quote=True),
        choice_field=CHOICE_FIELD,
        accept=ACCEPT,
        decline=DECLINE,
    )


# ------------------------------------------------------------------------------------ POST


def record_choice(facts: RequestFacts, body: Any) -> Reply:
    """Checks in order: same origin (403), size (413), form encoding (415), fields (400); then
    the cookie and a 303 back to the link."""
    if not is_same_origin(facts):
        return _refuse(403, "A choice is accepted only from this site's own page.")
    raw = body if isinstance(body, bytes | bytearray) else (body or "").encode("utf-8", "replace")
    if len(raw) > MAX_BODY:
        return _refuse(413, "The form is too large.")
    media_type = facts.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        return _refuse(415, f"Send the form as {FORM_TYPE}.")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(
        bytes(raw).decode("utf-8", "replace"), keep_blank_values=True, errors="replace"
    ):
        fields.setdefault(key, value)
    choice = fields.get(CHOICE_FIELD, "").strip().lower()
    if choice not in (ACCEPT, DECLINE):
        return _refuse(400, f"`{CHOICE_FIELD}` must be {ACCEPT} or {DECLINE}.")
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Location": safe_return(fields.get(RETURN_FIELD)),
        "Set-Cookie": [choice_cookie(choice == ACCEPT, secure=facts.is_https)],
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex",
        "Referrer-Policy": "same-origin",
    }
    return Reply(303, headers, "")


def is_same_origin(facts: RequestFacts) -> bool:
    """Whether the browser says this request comes from a page of this very host.

    ``Origin`` (every current browser sends it with a POST), else ``Referer``; neither, or
    ``Origin: null``, is not proof. ``Sec-Fetch-Site``, when sent, must not say another site.
    A Host without a port matches the default port of the origin's scheme.
    """
    if facts.headers.get("sec-fetch-site", "").strip().lower() in ("cross-site", "same-site"):
        return False
    source = facts.headers.get("origin", "").strip() or facts.headers.get("referer", "").strip()
    if not source or facts.host is None:
        return False
    try:
        parts = urlsplit(source)
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return False
    default = _DEFAULT_PORTS[parts.scheme]
    return (normalize_host(parts.hostname), origin_port or default) == (
        facts.host,
        _host_port(facts.headers.get("host", "")) or default,
    )


def _host_port(host: str) -> int | None:
    name, sep, port = host.strip().rpartition(":")
    if not sep or name.endswith(":") or not port.isdigit() or not port.isascii():
        return None  # no port, or part of a bare IPv6 address
    return int(port)


def _refuse(status: int, message: str, **extra: str) -> Reply:
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex",
        "X-Content-Type-Options": "nosniff",
        **extra,
    }
    return Reply(status, headers, message + "\n")


# ---------------------------------------------------------------------------------- return


def safe_return(value: Any) -> str:
    """``value`` if it names a short link on this host (``/`` or ``/<slug>``, optionally with a
    query, whose unsafe characters are %-escaped), else ``/``. A fragment is dropped."""
    text = value if isinstance(value, str) else ""
    text = text.split("#", 1)[0]
    if not text or len(text) > MAX_RETURN or "\\" in text:
        return "/"
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text):
        return "/"
    path, _, query = text.partition("?")
    if not _RETURN_PATH_RE.fullmatch(path):
        return "/"
    query = quote(query, safe=_QUERY_SAFE)
    return f"{path}?{query}" if query else path


STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:12vh auto;padding:0 1rem;"
    "color:#222}h1{font-size:1.4rem}p{color:#444}.choice{display:flex;gap:.75rem;flex-wrap:wrap;"
    "margin:1.5rem 0}button{font:inherit;padding:.6rem 1.4rem;border-radius:.4rem;"
    "border:2px solid #225;cursor:pointer}button[value=accept]{background:#225;color:#fff}"
    "button[value=decline]{background:#fff;color:#225}button:focus-visible,a:focus-visible"
    "{outline:3px solid #e80;outline-offset:2px}a{color:#225}"
)

_FORM = """<form method="post" action="{action}" aria-describedby="consent-what">
<input type="hidden" name="{return_field}" value="{return_to}">
<div class="choice">
<button type="submit" name="{choice_field}" value="{accept}">Accept</button>
<button type="submit" name="{choice_field}" value="{decline}">Decline</button>
</div>
</form>"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Your choice: sharing visits with advertising partners</title>
<style nonce="{nonce}">{style}</style>
</head>
<body>
<main>
<h1>Share your visits with advertising partners?</h1>
<p id="consent-what">{where} can tell the advertising platforms it works with (such as Meta,
Google or TikTok) that you followed its links, so that they can measure its ads and show you
related ones. Nothing is shared unless you accept. You can change your choice here at any time.</p>
<p>{current}</p>
{form}
<p><a href="{back}">Go back without choosing</a></p>
</main>
</body>
</html>
"""
