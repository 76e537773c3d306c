"""The ``Rebound-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

The scheme is Stripe's: the timestamp is signed with the raw body, so a captured request cannot be
replayed later than the tolerance, and the body cannot be changed. Several ``v1=`` values may be
sent; one matching is enough. That is how a secret is rotated without downtime: the sender signs
with the old and the new secret, the domain's secret is switched, then the sender drops the old.

Pure: no AWS. Shared by the postback (verify) and ``rebound sign`` (sign).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass

HEADER = "Rebound-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300
MAX_HEADER_CHARS = 2048
MAX_SIGNATURES = 8

_HEX = re.compile(r"[0-9a-fA-F]{64}")


class SignatureError(Exception):
    """Why a request is not authenticated; the message is safe to show to the sender."""


@dataclass(frozen=True)
class ParsedHeader:
    timestamp: int
    signatures: tuple[str, ...]  # lower-case hex, v1 only


def sign(body: bytes, secret: str, t: int | None = None) -> str:
    """The header value for ``body`` signed with ``secret`` at ``t`` (default: now)."""
    t = int(time.time()) if t is None else int(t)
    return f"t={t},{SCHEME}={signature(body, secret, t)}"


def signature(body: bytes, secret: str, t: int) -> str:
    """hex HMAC-SHA256(secret, "<t>.<body>")."""
    message = str(int(t)).encode("ascii") + b"." + bytes(body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def parse_header(value: str | None) -> ParsedHeader:
    """Read ``t=...,v1=...[,v1=...]``; unknown schemes (``v0=``) are ignored, as Stripe does."""
    if value is None or not value.strip():
        raise SignatureError(f"missing {HEADER} header")
    if len(value) > MAX_HEADER_CHARS:
        raise SignatureError(f"{HEADER} header is too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        key, item = key.strip(), item.strip()
        if not sep or not key:
            raise SignatureError(f"malformed {HEADER} header: expected t=<seconds>,v1=<hex>")
        if key == "t":
            if timestamp is not None or not item.isascii() or not item.isdigit() or len(item) > 12:
                raise SignatureError(f"malformed {HEADER} header: t must be unix seconds, once")
            timestamp = int(item)
        elif key == SCHEME:
            if not _HEX.fullmatch(item):
                raise SignatureError(
                    f"malformed {HEADER} header: v1 must be 64 hex characters (HMAC-SHA256)"
                )
            signatures.append(item.lower())
    if timestamp is None:
        raise SignatureError(f"malformed {HEADER} header: no t=<unix seconds>")
    if not signatures:
        raise SignatureError(f"malformed {HEADER} header: no v1=<hex HMAC-SHA256>")
    if len(signatures) > MAX_SIGNATURES:
        raise SignatureError(f"{HEADER} header has more than {MAX_SIGNATURES} v1 signatures")
    return ParsedHeader(timestamp, tuple(signatures))


def verify(
    header: str | None,
    body: bytes,
    secret: str,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check the header against ``body`` and ``secret``; returns the signed timestamp.

    Raises SignatureError when the header is missing or malformed, when ``t`` is more than
    ``tolerance`` seconds away from ``now`` (either way: a clock ahead is as suspect as one
    behind), or when no ``v1`` matches. Comparisons are constant-time.
    """
    parsed = parse_header(header)
    now = time.time() if now is None else now
    if abs(now - parsed.timestamp) > tolerance:
        raise SignatureError(
            f"{HEADER} timestamp is more than {tolerance} seconds away from the server's clock "
            f"(server time {int(now)}): sign each request when it is sent, with a synced clock"
        )
    expected = signature(body, secret, parsed.timestamp).encode("ascii")
    matched = False
    for candidate in parsed.signatures:
        # Every candidate is compared (no early exit): the time taken says nothing about which.
        matched |= hmac.compare_digest(expected, candidate.encode("ascii"))
    if not matched:
        raise SignatureError(
            f"{HEADER} does not match: sign the exact bytes sent as the body with the "
            "domain's conversion secret"
        )
    return parsed.timestamp
