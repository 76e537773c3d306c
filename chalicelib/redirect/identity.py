"""Who is clicking (as far as consent allows): the ``visitor_id``.

Consent not denied: the first-party cookie ``rb_vid`` (minted when absent or malformed).
Consent denied: no cookie is read or written (a leftover one is deleted); the id is a keyed hash
of (domain, ip, user agent) under a salt that rotates daily and is then destroyed, so it links
clicks within a day and never beyond. Both forms are 32 lowercase hex characters; which one a
click carries follows from its ``consent`` (denied = hashed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable

from chalicelib.redirect.consent import DENIED
from chalicelib.redirect.cookies import ONE_YEAR, expire_cookie, set_cookie
from chalicelib.redirect.request import RequestFacts

VISITOR_COOKIE = "rb_vid"
VISITOR_ID_RE = re.compile(r"[0-9a-f]{32}")


Salt = bytes | str | Callable[[], bytes | str]


def visitor_identity(
    facts: RequestFacts, consent: str, *, salt: Salt, domain: str | None
) -> tuple[str, tuple[str, ...]]:
    """(visitor_id, Set-Cookie values to send).

    ``salt`` may be a callable: it is then called only when the hash is needed (consent denied),
    so the caller fetches the day's salt only then.
    """
    if consent == DENIED:
        stale = VISITOR_COOKIE in facts.cookies  # its presence only: the value is never used
        cookies = (expire_cookie(VISITOR_COOKIE, secure=facts.is_https),) if stale else ()
        key = salt() if callable(salt) else salt
        ip = facts.source_ip or ""
        return hashed_visitor_id(key, domain or facts.host or "", ip, facts.user_agent), cookies
    existing = facts.cookies.get(VISITOR_COOKIE, "")
    if VISITOR_ID_RE.fullmatch(existing):
        return existing, ()
    minted = new_visitor_id()
    return minted, (set_cookie(VISITOR_COOKIE, minted, max_age=ONE_YEAR, secure=facts.is_https),)


def new_visitor_id() -> str:
    return secrets.token_hex(16)


def hashed_visitor_id(salt: bytes | str, domain: str, ip: str, user_agent: str) -> str:
    """HMAC-SHA256 under the daily salt (a keyed hash: without the salt, ids cannot be
    recomputed from a guessed IP), truncated to 128 bits: plenty to avoid collisions."""
    key = salt.encode("utf-8", "surrogatepass") if isinstance(salt, str) else bytes(salt)
    message = "\x00".join((domain, ip, user_agent)).encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
