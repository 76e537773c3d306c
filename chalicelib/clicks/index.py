"""The click index: click id -> what a conversion needs of its click, for the attribution window.

The archiver writes one item per human click (``to_item``); the conversion intake reads it back
(``get_click``) to attribute a postback and to give its platform events the click's ids, user agent,
consent and platforms. The item keeps the full user agent, never the IP (``ip_prefix`` only).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

# Platforms match a conversion to a click up to 90 days old (Google's longest window, Meta's fbc
# limit); the click index keeps clicks exactly that long (its TTL).
ATTRIBUTION_WINDOW = timedelta(days=90)
TTL_SECONDS = int(ATTRIBUTION_WINDOW.total_seconds())

# What the index keeps of a human click (plus ts, expires_at and the full user agent).
FIELDS = (
    "domain",
    "slug",
    "campaign",
    "tags",
    "click_ids",
    "ip_prefix",
    "consent",
    "visitor_id",
    "platforms",
    "country",  # the default region for phone numbers in a conversion attributed to the click
)


def to_item(click: Mapping[str, Any], user_agent: str | None, epoch: float) -> dict[str, Any]:
    """The index item (DynamoDB attribute values) of a human click that happened at ``epoch``."""
    item: dict[str, Any] = {
        "click_id": {"S": click["click_id"]},
        "ts": {"S": click["ts"]},
        "expires_at": {"N": str(int(epoch) + TTL_SECONDS)},
    }
    for name in FIELDS:
        value = click.get(name)
        if value is None:
            continue
        # Inline the common shapes (this runs for every human click); _attribute for the rest.
        kind = type(value)
        if kind is str:
            item[name] = {"S": value}
        elif kind is list and all(type(v) is str for v in value):
            item[name] = {"L": [{"S": v} for v in value]}
        elif kind is dict and all(type(v) is str for v in value.values()):
            item[name] = {"M": {k: {"S": v} for k, v in value.items()}}
        else:
            item[name] = _attribute(value)
    if user_agent is not None:
        item["user_agent"] = {"S": user_agent}
    return item


def get_click(dynamodb: Any, table: str, click_id: str) -> dict[str, Any] | None:
    """The indexed click as plain values (``from_item``), None when it is not indexed.
    AWS errors are the caller's."""
    item = dynamodb.get_item(TableName=table, Key={"click_id": {"S": click_id}}).get("Item")
    return from_item(item)


def from_item(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An index item as plain JSON values (absent ones left out); None for no item, or one
    without a click id and a time."""
    if not item:
        return None
    plain = {name: _plain(value) for name, value in item.items()}
    if not isinstance(plain.get("ts"), str) or not isinstance(plain.get("click_id"), str):
        return None
    return {name: value for name, value in plain.items() if value is not None}


def _attribute(value: Any) -> dict[str, Any]:
    """A plain JSON value as a DynamoDB attribute value (low-level client format)."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, list):
        return {"L": [_attribute(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {str(k): _attribute(v) for k, v in value.items()}}
    return {"NULL": True}


def _plain(value: Mapping[str, Any]) -> Any:
    """A low-level DynamoDB attribute value as plain JSON (numbers as int or float)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return inner
    if kind == "N":
        number = float(inner)
        return int(number) if number.is_integer() and "." not in inner else number
    if kind == "BOOL":
        return bool(inner)
    if kind == "NULL":
        return None
    if kind == "L":
        return [_plain(v) for v in inner]
    if kind == "M":
        return {k: _plain(v) for k, v in inner.items()}
    if kind == "SS":
        return list(inner)
    return None
