"""How platforms spell values: times, amounts, hashed user data, and leaving out what is empty."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.hashing import is_hashed, sha256_hex

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The Conversions-API user fields (Meta's names, also Pinterest's and Snapchat's): each a list
# of hashes, from the ``hashing.hash_user`` key named here.
USER_LISTS = {
    "em": "em",
    "ph": "ph_digits",
    "fn": "fn",
    "ln": "ln",
    "ct": "ct",
    "st": "st",
    "zp": "zp",
    "country": "country",
}


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


def sent_time(event: PlatformEvent, now: datetime) -> datetime:
    """The event's time, pulled back to ``now`` when within the clock skew ahead of it."""
    return min(event.event_time, now)


# ------------------------------------------------------------------------------------ values


def decimal_string(value: float) -> str:
    """``49`` → ``"49"``, ``49.5`` → ``"49.5"``: no exponent, no float noise."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def money(event: PlatformEvent, as_text: bool = False) -> dict[str, Any]:
    """``{"currency", "value"}`` of what is known (the value as a decimal string with
    ``as_text``); empty when neither is."""
    value: Any = event.value
    if as_text and value is not None:
        value = decimal_string(value)
    return compact({"currency": event.currency, "value": value})


def tier_of(event: PlatformEvent) -> dict[str, str]:
    """``{"rebound_audience": id}`` for an engagement tier's event (a custom property where the
    platform takes one, so the platform-side audience can be built per tier); else empty."""
    return {"rebound_audience": event.audience} if event.audience else {}


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


def has_match_key(event: PlatformEvent, click_id: str) -> bool:
    """Whether ``event`` carries anything to match a person on: the platform's click id, a
    hashed e-mail or phone, an external id, the IP address or the user agent."""
    return bool(
        event.click_ids.get(click_id)
        or event.user.get("em")
        or event.user.get("ph_e164")
        or hashed_visitor(event)
        or event.ip
        or event.user_agent
    )


def user_lists(user: Mapping[str, str], mapping: Mapping[str, str]) -> dict[str, list[str]]:
    """``{platform_key: [hash]}`` for each ``{platform_key: hash_user_key}`` present."""
    return {out: [user[key]] for out, key in mapping.items() if user.get(key)}


def capi_user_data(event: PlatformEvent, **more: Any) -> dict[str, Any]:
    """A Conversions-API ``user_data``: the hashed ``USER_LISTS``, ``external_id``, IP and user
    agent, then ``more`` (the platform's click id); empty ones left out."""
    user: dict[str, Any] = user_lists(event.user, USER_LISTS)
    external_id = hashed_visitor(event)
    if external_id:
        user["external_id"] = [external_id]
    return compact(
        {**user, "client_ip_address": event.ip, "client_user_agent": event.user_agent, **more}
    )


def compact(data: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None values and empty containers (platforms reject empty strings and lists)."""
    return {k: v for k, v in data.items() if v is not None and v != {} and v != [] and v != ""}
