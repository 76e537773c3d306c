"""Link rules and splits: which configured URL a visitor is sent to.

Each ``when`` condition is one small check answering "does this request match?"; a rule matches
when all of its conditions do, and the first matching rule wins. Without a matching rule, a
weighted split picks an arm, sticky per visitor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from chalicelib.redirect.request import RequestFacts
from chalicelib.redirect.visitor import Visitor

Check = Callable[[Any, RequestFacts, Visitor, datetime], bool]


@lru_cache(maxsize=1024)
def parse_instant(value: str) -> datetime | None:
    """An ISO-8601 instant (``2026-11-01T00:00:00Z``) as an aware UTC datetime, or None."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except (TypeError, ValueError, AttributeError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _folded(values: Any) -> set[str]:
    return {str(v).casefold() for v in values}


def _device(allowed: Any, facts: RequestFacts, visitor: Visitor, now: datetime) -> bool:
    return bool(visitor.device_classes & _folded(allowed))


def _os(allowed: Any, facts: RequestFacts, visitor: Visitor, now: datetime) -> bool:
    return visitor.os is not None and visitor.os.casefold() in _folded(allowed)


def _browser(allowed: Any, facts: RequestFacts, visitor: Visitor, now: datetime) -> bool:
    return visitor.browser is not None and visitor.browser.casefold() in _folded(allowed)


def _country(allowed: Any, facts: RequestFacts, visitor: Visitor, now: datetime) -> bool:
    return visitor.country is not None and visitor.country.casefold() in _folded(allowed)


def _language(allowed: Any, facts: RequestFacts, visitor: Visitor, now: datetime) -> bool:
    """The visitor's most preferred language: ``de`` matches ``de-AT``; ``de-AT`` only de-AT."""
    preferred = (visitor.language or "").casefold()
    return bool(preferred) and any(
        preferred == wanted or preferred.startswith(wanted + "-") for wanted in _folded(allowed)
    )


def _query(expected: Any, facts: RequestFacts, visitor: Visitor, now: datetime) -> bool:
    """``{param: "value"}`` equals (any occurrence), ``{param: true}`` present, ``false`` absent."""
    if not isinstance(expected, Mapping):
        return False
    for name, want in expected.items():
        values = [value for key, value in facts.query if key == name]
        if want is True or want is False:
            if bool(values) is not want:
                return False
        elif str(want) not in values:
            return False
    return True


def _before(value: Any, facts: RequestFacts, visitor: Visitor, now: datetime) -> bool:
    instant = parse_instant(str(value))
    return instant is not None and now < instant


def _after(value: Any, facts: RequestFacts, visitor: Visitor, now: datetime) -> bool:
    instant = parse_instant(str(value))
    return instant is not None and now >= instant


CONDITIONS: dict[str, Check] = {
    "device": _device,
    "os": _os,
    "browser": _browser,
    "country": _country,
    "language": _language,
    "query": _query,
    "before": _before,
    "after": _after,
}


def rule_matches(
    when: Mapping[str, Any], facts: RequestFacts, visitor: Visitor, now: datetime
) -> bool:
    """All conditions hold. Absent (None or empty) conditions do not constrain; an unknown
    condition never matches (validation rejects it; failing closed beats ignoring it)."""
    for key, expected in when.items():
        if expected is None or expected == [] or expected == {}:
            continue
        check = CONDITIONS.get(key)
        if check is None or not check(expected, facts, visitor, now):
            return False
    return True


def first_matching_rule(
    rules: Sequence[Mapping[str, Any]], facts: RequestFacts, visitor: Visitor, now: datetime
) -> int | None:
    """The index of the first rule whose ``when`` holds, or None."""
    for index, rule in enumerate(rules):
        when = rule.get("when") or {}
        if (
            isinstance(when, Mapping)
            and rule.get("url")
            and rule_matches(when, facts, visitor, now)
        ):
            return index
    return None


def split_arm(split: Sequence[Mapping[str, Any]], visitor_id: str, link_key: str) -> int | None:
    """A weighted arm, the same one every time for the same visitor on the same link.

    The visitor's point in [0, total weight) comes from a hash of (link, visitor), so arms are
    independent across links and a visitor's share follows the weights.
    """
    weights = [_weight(arm) if arm.get("url") else 0.0 for arm in split]
    total = sum(weights)
    if total <= 0:
        return None
    digest = hashlib.sha256(f"{link_key}\x00{visitor_id}".encode("utf-8", "surrogatepass")).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * total
    upto = 0.0
    last = None
    for index, weight in enumerate(weights):
        if weight <= 0:
            continue
        upto += weight
        last = index
        if point < upto:
            return index
    return last  # float rounding at the very top


def _weight(arm: Mapping[str, Any]) -> float:
    try:
        weight = float(arm.get("weight") or 0)
    except (TypeError, ValueError):
        return 0.0
    return weight if weight > 0 and weight != float("inf") else 0.0
