"""The postback body: parsed and checked in one pass that reports every field error at once.

Pure: bytes and a clock in, a ``Postback`` (or ``Invalid`` with the list of errors) out.

Unknown keys are errors, as in links.yaml: a misspelt ``event_id`` or an ``email`` sent at the top
level instead of inside ``user`` would otherwise be dropped without a word (and a conversion
without its dedup id or its user data looks accepted). Error messages never echo values back:
they may be personal data.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.clicks.ids import is_click_id
from chalicelib.redirect.request import normalize_ip

LEAD, PURCHASE = "lead", "purchase"
RESERVED_EVENTS = frozenset({"page_view", "pageview"})  # what a click sends: never a conversion
USER_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "city",
    "state",
    "zip",
    "country",
    "external_id",
)
FIELDS = (
    "click_id",
    "event",
    "event_id",
    "event_time",
    "value",
    "currency",
    "client_ip_address",
    "client_user_agent",
    "user",
)

# Platforms refuse older events (Meta: 7 days, and one such event rejects a whole batch; Reddit:
# 168 h), and a time further ahead than the signature's own tolerance is a broken clock.
MAX_AGE = timedelta(days=7)
MAX_AHEAD = timedelta(minutes=5)
MAX_EVENT_ID = 128
MAX_USER_AGENT = 1024
MAX_USER_VALUE = 256
MAX_VALUE = 1e12
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1
# The dedup key, and it travels into ledger keys and object names downstream: ASCII letters and
# digits, and the punctuation order and lead ids use, but no "/", "\\", space or dot-dot path.
_EVENT_ID = re.compile(r"[A-Za-z0-9_.:#@+=~-]+")
# Seconds this large are milliseconds (year 5138 and later).
_MILLIS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True)
class FieldError:
    field: str | None  # "value", "user.email"; None for the body as a whole
    message: str

    def to_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "message": self.message}


class Invalid(Exception):
    """The body is not an acceptable postback; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError]):
        super().__init__(f"{len(errors)} field error(s)")
        self.errors = errors


@dataclass(frozen=True)
class Postback:
    """A valid postback. ``user`` and the client IP are clear personal data: hash, never keep."""

    event: str
    event_id: str
    event_time: datetime
    value: float | None = None
    currency: str | None = None
    click_id: str | None = None
    client_ip_address: str | None = field(default=None, repr=False)
    client_user_agent: str | None = field(default=None, repr=False)
    user: Mapping[str, str] = field(default_factory=dict, repr=False)


class _Duplicate(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; Invalid (one body-level error) otherwise."""
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid([FieldError(None, "the body is not UTF-8")]) from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _Duplicate as dup:
        raise Invalid([FieldError(_short(dup.key), "given more than once")]) from None
    except (ValueError, RecursionError) as exc:
        where = (
            f" (line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise Invalid([FieldError(None, f"the body is not valid JSON{where}")]) from None
    if not isinstance(data, dict):
        raise Invalid([FieldError(None, "the body must be a JSON object")])
    return data


def parse_postback(body: bytes, now: datetime) -> Postback:
    """Decode and validate a postback body; raises Invalid listing every field error."""
    data, unreadable = _without_lone_surrogates(decode_json(body))
    errors: list[FieldError] = []
    check = _Checker(errors)

    for key in data:
        if key not in FIELDS:
            errors.append(FieldError(_short(key), _unknown_field_message(key)))

    event = check.event(data.get("event"))
    event_id = check.event_id(data.get("event_id"))
    event_time = check.event_time(data.get("event_time"), now)
    value = check.value(data.get("value"))
    currency = check.currency(data.get("currency"))
    click_id = check.click_id(data.get("click_id"))
    ip = check.ip(data.get("client_ip_address"))
    user_agent = check.user_agent(data.get("client_user_agent"))
    user = check.user(data.get("user"))

    if event == PURCHASE:
        if data.get("value") is None:
            errors.append(FieldError("value", "required for a purchase"))
        if data.get("currency") is None:
            errors.append(FieldError("currency", "required for a purchase (ISO 4217, e.g. EUR)"))
    elif data.get("value") is not None and data.get("currency") is None:
        errors.append(FieldError("currency", "required with value (ISO 4217, e.g. EUR)"))

    if unreadable:
        # Only the encoding error for those fields: "required" and the like would mislead.
        named = {e.field for e in unreadable}
        errors[:] = [e for e in errors if e.field not in named] + unreadable
    if errors:
        raise Invalid(_in_field_order(errors))
    assert event is not None and event_id is not None and event_time is not None
    return Postback(
        event=event,
        event_id=event_id,
        event_time=event_time,
        value=value,
        currency=currency,
        click_id=click_id,
        client_ip_address=ip,
        client_user_agent=user_agent,
        user=user,
    )


def _without_lone_surrogates(data: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """``data`` without the string values that hold a lone surrogate, and an error for each.

    ``"x\\ud800"`` is valid JSON but no text: it cannot be encoded as UTF-8, so it could be
    neither hashed, nor stored, nor put on the stream. Keys are left to the unknown-field check
    (no known key has one), which names them with ``_short``."""
    errors: list[FieldError] = []
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if key == "user" and isinstance(value, dict):
            user = {}
            for name, item in value.items():
                if _unencodable(item):
                    errors.append(_not_text(f"user.{_short(name)}"))
                else:
                    user[name] = item
            clean[key] = user
        elif _unencodable(value):
            errors.append(_not_text(_short(key)))
        else:
            clean[key] = value
    return clean, errors


def _unencodable(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _not_text(name: str) -> FieldError:
    return FieldError(name, "is not valid Unicode text (a lone surrogate such as \\ud800)")


class _Checker:
    """One method per field: returns the clean value, or None after recording an error."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors

    def fail(self, name: str, message: str) -> None:
        self.errors.append(FieldError(name, message))

    def event(self, value: Any) -> str | None:
        if value is None:
            return self.fail("event", "required: lead, purchase or a custom event name")
        if not isinstance(value, str):
            return self.fail("event", "must be a string: lead, purchase or a custom event name")
        name = value.strip()
        if name.lower() in (LEAD, PURCHASE):
            return name.lower()
        if name.lower() in RESERVED_EVENTS:
            return self.fail("event", "page_view is what a click sends, not a conversion")
        if not _EVENT_NAME.fullmatch(name):
            return self.fail(
                "event",
                "lead, purchase, or a custom name: a letter, then up to 39 letters, digits or _",
            )
        return name

    def event_id(self, value: Any) -> str | None:
        if value is None:
            return self.fail(
                "event_id", "required: your unique id for this event (order or lead id)"
            )
        if not isinstance(value, str):
            return self.fail("event_id", 'must be a string (send 12345 as "12345")')
        text = value.strip()
        if not text:
            return self.fail("event_id", "must not be empty")
        if len(text) > MAX_EVENT_ID:
            return self.fail("event_id", f"must be at most {MAX_EVENT_ID} characters")
        if not _EVENT_ID.fullmatch(text):
            return self.fail(
                "event_id",
                "may hold ASCII letters, digits and _ . : # @ + = ~ - only "
                '(no spaces, "/" or "\\")',
            )
        return text

    def event_time(self, value: Any, now: datetime) -> datetime | None:
        if value is None:
            return now
        when = self._instant(value)
        if when is None:
            return None
        if when < now - MAX_AGE:
            return self.fail(
                "event_time", "is more than 7 days ago: ad platforms refuse events that old"
            )
        if when > now + MAX_AHEAD:
            return self.fail("event_time", "is more than 5 minutes in the future")
        return when

    def _instant(self, value: Any) -> datetime | None:
        seconds: float | None = None
        if isinstance(value, bool):
            pass
        elif isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
            seconds = float(value.strip())
        elif isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.strip())
            except ValueError:
                return self.fail(
                    "event_time",
                    "must be unix seconds or ISO-8601 with a time zone (2026-11-23T12:00:00Z)",
                )
            if when.tzinfo is None:
                return self.fail("event_time", "needs a time zone (2026-11-23T12:00:00Z or +01:00)")
            return when.astimezone(UTC)
        if seconds is None:
            return self.fail("event_time", "must be unix seconds or an ISO-8601 string")
        if not math.isfinite(seconds) or seconds < 0:
            return self.fail("event_time", "must be unix seconds")
        if seconds >= _MILLIS_THRESHOLD:
            return self.fail("event_time", "looks like milliseconds: send unix seconds")
        return datetime.fromtimestamp(seconds, UTC)

    def value(self, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self.fail("value", 'must be a number (49.9, not "49.9")')
        try:
            number = float(value)
        except OverflowError:
            return self.fail("value", "is too large")
        if not math.isfinite(number):
            return self.fail("value", "must be a finite number")
        if number < 0:
            return self.fail("value", "must be 0 or more")
        if number > MAX_VALUE:
            return self.fail("value", "is too large")
        return number

    def currency(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not _CURRENCY.fullmatch(value.strip()):
            return self.fail("currency", "must be an ISO 4217 code of 3 letters, e.g. EUR")
        return value.strip().upper()

    def click_id(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return self.fail("click_id", "must be a string: the rb_cid value of the click")
        # Crockford base32 reads either case; ours are written upper-case.
        text = value.strip().upper()
        if not is_click_id(text):
            return self.fail(
                "click_id",
                "is not a Rebound click id (the 26-character rb_cid value of the landing URL)",
            )
        return text

    def ip(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        ip = normalize_ip(value) if isinstance(value, str) else None
        if ip is None:
            return self.fail("client_ip_address", "must be an IPv4 or IPv6 address")
        return ip

    def user_agent(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            return self.fail("client_user_agent", "must be a string")
        text = value.strip()
        if len(text) > MAX_USER_AGENT:
            return self.fail("client_user_agent", f"must be at most {MAX_USER_AGENT} characters")
        if _CONTROL.search(text):
            return self.fail("client_user_agent", "must not contain control characters")
        return text or None

    def user(self, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail("user", 'must be an object: {"email": ..., "phone": ...}')
            return {}
        out: dict[str, str] = {}
        for key, item in value.items():
            name = f"user.{_short(key)}"
            if key not in USER_FIELDS:
                self.fail(name, f"unknown field (known: {', '.join(USER_FIELDS)})")
            elif item is None:
                continue
            elif not isinstance(item, str):
                self.fail(name, "must be a string")
            elif len(item) > MAX_USER_VALUE:
                self.fail(name, f"must be at most {MAX_USER_VALUE} characters")
            elif _CONTROL.search(item):
                self.fail(name, "must not contain control characters")
            elif item.strip():
                # One spelling of "ü" (composed), so both hash alike for every platform.
                out[key] = unicodedata.normalize("NFC", item)
        return out


def _unknown_field_message(key: str) -> str:
    if key in USER_FIELDS:
        return f"unknown field: personal data goes inside user (user.{key})"
    close = [key.lower()] if key.lower() in FIELDS else []
    close = close or difflib.get_close_matches(key.lower(), FIELDS, n=1, cutoff=0.75)
    if close:
        return f"unknown field; did you mean {close[0]}?"
    return f"unknown field (known: {', '.join(FIELDS)})"


def _short(key: str) -> str:
    """A key as a field name: at most 64 characters, lone surrogates written as ``\\ud800``."""
    key = key.encode("utf-8", "backslashreplace").decode("utf-8")
    return key if len(key) <= 64 else key[:61] + "..."


def _in_field_order(errors: list[FieldError]) -> list[FieldError]:
    """Errors in the order of the documented fields, unknown ones last; stable otherwise."""
    order = {name: i for i, name in enumerate(FIELDS)}

    def rank(error: FieldError) -> int:
        head = (error.field or "").split(".", 1)[0]
        return order.get(head, len(FIELDS))

    return sorted(errors, key=rank)
