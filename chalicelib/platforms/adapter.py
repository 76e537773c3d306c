"""What every platform module shares: time units, age checks, batching, base URLs, and the
status-code half of classifying an answer.

A platform module has the same small shape (see ``registry.Adapter``): ``NAME``, ``MAX_BATCH``,
``MAX_AGE``, ``SECRET_FIELDS``, ``build_requests(events, settings, secrets, now)`` and
``classify(status, body)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

from chalicelib.platforms.event import PlatformEvent, Rejected
from chalicelib.platforms.hashing import is_hashed, sha256_hex
from chalicelib.platforms.http import OK, PERMANENT, RETRY, Outcome

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Tolerated clock skew: an event up to this far ahead of our clock is sent with time = now.
CLOCK_SKEW = timedelta(seconds=60)

# A platform error message is kept this long in a reason (enough to act on, not a log flood).
REASON_LIMIT = 300

T = TypeVar("T")


# ------------------------------------------------------------------------------------ times


def epoch_seconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(seconds=1)


def epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def rfc3339(moment: datetime) -> str:
    """``2026-11-23T12:00:00Z`` (fractional seconds kept when there are any)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def age_problem(
    moment: datetime,
    now: datetime,
    max_age: timedelta,
    max_future: timedelta = CLOCK_SKEW,
    what: str = "event_time",
) -> str | None:
    """Why ``moment`` is out of the platform's window, or None when it is fine."""
    if moment < now - max_age:
        return f"{what} is older than {_span(max_age)}"
    if moment > now + max_future:
        return f"{what} is in the future"
    return None


def sent_time(event: PlatformEvent, now: datetime) -> datetime:
    """The event's time, pulled back to ``now`` when within the clock skew ahead of it."""
    return min(event.event_time, now)


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 7 * 24 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} hours"


# ---------------------------------------------------------------------------------- batching


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def screen(
    events: Iterable[PlatformEvent],
    problem: Callable[[PlatformEvent, datetime], str | None],
    now: datetime,
) -> tuple[list[PlatformEvent], list[Rejected]]:
    """Split events into those fit to send and those refused (with the reason), before batching:
    one invalid event can sink a whole batch on some platforms."""
    good: list[PlatformEvent] = []
    rejected: list[Rejected] = []
    for event in events:
        reason = problem(event, now)
        if reason:
            rejected.append(Rejected(event.event_id, reason))
        else:
            good.append(event)
    return good, rejected


def reject_all(events: Iterable[PlatformEvent], reason: str, **kw: Any) -> list[Rejected]:
    return [Rejected(e.event_id, reason, **kw) for e in events]


def missing_config(
    name: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    fields: Sequence[str],
    secret_fields: Sequence[str],
) -> str | None:
    """Reason naming the settings/secrets that are missing (names only, never values)."""
    lacking = [f for f in fields if not settings.get(f)]
    lacking += [f"{f} (secret)" for f in secret_fields if not secrets.get(f)]
    if lacking:
        return f"{name} is not configured: missing {', '.join(lacking)}"
    return None


# ------------------------------------------------------------------------------------- URLs


def base_url(settings: Mapping[str, Any], default: str) -> str:
    """``settings["endpoint"]`` (scheme, host, port, optional path prefix) or ``default``."""
    endpoint = settings.get("endpoint")
    if not endpoint:
        return default
    parts = urlsplit(str(endpoint))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("endpoint must be an absolute http(s) URL")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


JSON_HEADERS = {"Content-Type": "application/json"}


# ------------------------------------------------------------------------------------ values


def decimal_string(value: float) -> str:
    """``49`` → ``"49"``, ``49.5`` → ``"49.5"``: no exponent, no float noise."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def hashed_visitor(event: PlatformEvent) -> str | None:
    """The merchant's hashed external_id, else the hashed visitor id (a first-party id)."""
    if event.user.get("external_id"):
        return event.user["external_id"]
    if event.visitor_id:
        return (
            event.visitor_id.lower()
            if is_hashed(event.visitor_id)
            else sha256_hex(event.visitor_id)
        )
    return None


def user_lists(user: Mapping[str, str], mapping: Mapping[str, str]) -> dict[str, list[str]]:
    """``{platform_key: [hash]}`` for each ``{platform_key: hash_user_key}`` present."""
    return {out: [user[key]] for out, key in mapping.items() if user.get(key)}


def compact(data: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None values and empty containers (platforms reject empty strings and lists)."""
    return {k: v for k, v in data.items() if v is not None and v != {} and v != [] and v != ""}


# ---------------------------------------------------------------------------------- answers


def parse_json(body: bytes | str) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None


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
