"""``Set-Cookie`` values for Rebound's first-party cookies on the short domain.

Host-only (no ``Domain``), ``HttpOnly``, ``SameSite=Lax`` (sent on the top-level navigation a click
is), ``Secure`` whenever the request came over HTTPS. Names and values are ours, never the visitor's.
"""

from __future__ import annotations

ONE_YEAR = 365 * 24 * 3600


def set_cookie(name: str, value: str, *, max_age: int, secure: bool) -> str:
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def expire_cookie(name: str, *, secure: bool) -> str:
    """Tells the browser to delete the cookie now."""
    return set_cookie(name, "", max_age=0, secure=secure)
