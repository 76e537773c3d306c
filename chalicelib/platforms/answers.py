"""What a platform's answer says: its JSON, a short reason out of its error, and the rules most
platforms share for turning a status (and a per-event list) into ok, retry or permanent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.platforms.http import OK, PERMANENT, RETRY, Outcome, parse_json

# A platform error message is kept this long in a reason (enough to act on, not a log flood).
REASON_LIMIT = 300


def clip(text: Any) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


def classify_status(status: int, detail: str = "") -> Outcome:
    """The rule every platform shares: 2xx ok; 408, 429 and 5xx retry; anything else permanent."""
    suffix = f": {clip(detail)}" if detail else ""
    if 200 <= status < 300:
        return Outcome(OK, f"HTTP {status}{suffix}")
    if status in (408, 429) or status >= 500:
        return Outcome(RETRY, f"HTTP {status}{suffix}")
    return Outcome(PERMANENT, f"HTTP {status}{suffix}")


def error_text(payload: Any) -> str:
    """A short message out of the usual error shapes, or the raw text."""
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            parts = [str(err[k]) for k in ("code", "status", "message") if err.get(k) is not None]
            if parts:
                return " ".join(parts)
        elif err:
            return str(err)
        if payload.get("message"):
            return str(payload["message"])
    return "" if payload is None else str(payload)


def classify_per_event(
    status: int,
    body: bytes | str,
    *,
    results: str,
    failed: Callable[[Mapping[str, Any]], bool],
    detail: Callable[[Mapping[str, Any]], Any],
    verb: str,
    noun: str,
) -> Outcome:
    """Status first; a 2xx answer that lists each event's result (under ``results``) is ``ok``
    but ``partial`` when some ``failed``: "2 of 5 <verb>; <noun> 3: <detail of the first>"."""
    payload = parse_json(body)
    if not 200 <= status < 300:
        return classify_status(status, error_text(payload))
    listed = payload.get(results) if isinstance(payload, dict) else None
    if isinstance(listed, list):
        failures = [(i, r) for i, r in enumerate(listed) if isinstance(r, dict) and failed(r)]
        if failures:
            index, first = failures[0]
            return Outcome(
                OK,
                f"{len(failures)} of {len(listed)} {verb}; {noun} {index}: {clip(detail(first))}",
                partial=True,
            )
    return Outcome(OK, f"HTTP {status}")
