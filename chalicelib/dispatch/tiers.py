"""Engagement tiers: audiences a visitor joins at their Nth click within the window, not at each.

An audience with ``min_clicks: N`` (N > 1) or ``exclude_converted: true`` is a tier. Its platform
event goes out once, at the click that makes the visitor qualify: the Nth consented human click on
the tier's links within ``window_days`` (sliding, ending at the visitor's latest click), with no
purchase attributed to the visitor within the window before it when ``exclude_converted`` is set.
In stream order that is the Nth click; a click counted late (its record replayed after a
throttle) qualifies the visitor if it is the one that brings them to N. After that, nothing more
for that visitor until ``window_days`` have passed since they qualified ("once per visitor and
window"). Bots, denied consent and clicks without a visitor id never count.

The event is the click's page view, for the tier's ``send_to`` platforms that the click queued
(the redirect already left out bots, denied consent and LinkedIn without ``li_fat_id``), with
``audience`` set to the tier's id and the event id ``<click id>:<audience id>``: it never
collides in the ledger (or at a platform) with the click's own page view, which a plain audience
of the same link sends under the click id; a replayed click yields the same id, so the ledger
sends it once.

The state lives downstream of the redirect, in the state table (the redirect does not change):

- ``tier#<audience>#<visitor id>``: the visitor's recent click ids with their times (at most
  ``max(min_clicks, KEEP_CLICKS)``, within the window), when they last qualified and at which
  click, a version for optimistic concurrency, and ``expires_at`` (TTL) a window after the last
  click or qualification. A click already in the list is not counted again (a replayed batch), and
  the click that qualified answers "qualifies" again (so the replay of a batch whose events did
  not go out sends them). One GetItem and one conditional PutItem per click and tier; a lost race
  reads again (bounded); a refusal or throttle raises: the record is a batch item failure.
- ``converted#<visitor id>``: when the visitor's latest attributed purchase happened (kept
  ``MAX_WINDOW_DAYS``, the longest window an audience may have). Written for every attributed
  purchase of a consented human click, read for tiers with ``exclude_converted``: a click after
  a purchase within the window does not qualify (by event time, so the answer does not depend
  on the order records arrive in; only the latest purchase is kept, so a click processed after
  a purchase made later than it, and with an earlier one before it, is judged by the later one).

The visitor id is the redirect's pseudonymous first-party id; no IP, e-mail or phone is kept.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clicks.envelope import DENIED
from chalicelib.dispatch.events import Wanted
from chalicelib.links.plan import is_tier
from chalicelib.platforms.event import PURCHASE, PlatformEvent

TIER_PREFIX = "tier#"
TIER_EVENT_SEPARATOR = ":"  # <click id>:<audience id>; a click id has no ":"
CONVERTED_PREFIX = "converted#"
KEEP_CLICKS = 20  # click ids a visitor's state remembers, for replays (at least min_clicks)
MAX_WINDOW_DAYS = 540  # the config's longest window_days: how long a purchase is remembered
ATTEMPTS = 5  # reads and conditional writes of one state item before the record is retried


class TierContention(Exception):
    """A visitor's state changed under every attempt: the record goes back for the retry."""


@dataclass(frozen=True)
class Tier:
    """An engagement tier, from an audience's stored spec."""

    id: str
    min_clicks: int
    window: timedelta
    exclude_converted: bool
    send_to: tuple[str, ...]

    @classmethod
    def of(cls, spec: Mapping[str, Any] | None) -> Tier | None:
        """The tier an audience spec describes, or None for a plain audience (every click)."""
        if not spec or not is_tier(dict(spec)):
            return None
        return cls(
            id=str(spec["id"]),
            min_clicks=max(int(spec.get("min_clicks") or 1), 1),
            window=timedelta(days=int(spec.get("window_days") or 30)),
            exclude_converted=bool(spec.get("exclude_converted")),
            send_to=tuple(spec.get("send_to") or ()),
        )


def tier_key(audience_id: str, visitor_id: str) -> str:
    return f"{TIER_PREFIX}{audience_id}#{visitor_id}"


def converted_key(visitor_id: str) -> str:
    return f"{CONVERTED_PREFIX}{visitor_id}"


def tier_event_id(click_id: str, audience_id: str) -> str:
    """A tier's event id: distinct from the click's page view, the same on every replay (the
    rollup counts a tier's members by these ids in the platform outcomes)."""
    return f"{click_id}{TIER_EVENT_SEPARATOR}{audience_id}"


def counts(click: Mapping[str, Any]) -> bool:
    """Whether a click counts towards tiers: a human's, consent not denied, with a visitor id."""
    return bool(
        not click.get("is_bot") and click.get("consent") != DENIED and click.get("visitor_id")
    )


def tier_wanted(
    click: Mapping[str, Any], page_view: PlatformEvent | None, tier: Tier, domain: str
) -> list[Wanted]:
    """The events a qualifying click sends for a tier: its page view, renamed for the tier."""
    if page_view is None:
        return []
    event = replace(
        page_view, event_id=tier_event_id(str(click["click_id"]), tier.id), audience=tier.id
    )
    platforms = set(tier.send_to) & set(click.get("platforms") or ())
    return [Wanted(p, event, domain) for p in sorted(platforms)]


@dataclass(frozen=True)
class Visits:
    """A visitor's state for one tier: recent clicks (epoch ms, click id), oldest first."""

    clicks: tuple[tuple[int, str], ...] = ()
    qualified_at: int | None = None
    qualified_by: str | None = None
    version: int = 0

    @classmethod
    def decode(cls, item: Mapping[str, Any] | None) -> Visits:
        if not item:
            return cls()
        return cls(
            clicks=tuple((int(ms), str(cid)) for ms, cid in json.loads(item["clicks"]["S"])),
            qualified_at=int(item["qualified_at"]["N"]) if "qualified_at" in item else None,
            qualified_by=item["qualified_by"]["S"] if "qualified_by" in item else None,
            version=int(item["version"]["N"]),
        )


def step(
    visits: Visits, tier: Tier, click_id: str, at_ms: int, converted_ms: int | None
) -> tuple[Visits | None, bool]:
    """Pure: the state after counting a click, and whether the click qualifies the visitor.
    ``(None, answer)`` when the click was counted before (nothing to write)."""
    if any(cid == click_id for _, cid in visits.clicks):
        return None, visits.qualified_by == click_id
    window = int(tier.window.total_seconds() * 1000)
    clicks = sorted((*visits.clicks, (at_ms, click_id)))
    newest = clicks[-1][0]
    # The window ends at the visitor's latest click: a click arriving late (a replay, another
    # shard) still counts, and qualifies the visitor if it is the one that brings them to N.
    kept = [c for c in clicks if c[0] > newest - window][-max(KEEP_CLICKS, tier.min_clicks) :]
    # A purchase before this click, within the window: judged by the event times, not by the
    # order the records arrive in, so a replay gets the same answer as the first attempt.
    converted = (
        tier.exclude_converted
        and converted_ms is not None
        and at_ms - window < converted_ms < at_ms
    )
    recently = visits.qualified_at is not None and abs(at_ms - visits.qualified_at) < window
    qualifies = (at_ms, click_id) in kept and len(kept) >= tier.min_clicks
    qualifies = qualifies and not converted and not recently
    after = Visits(
        clicks=tuple(kept),
        qualified_at=at_ms if qualifies else visits.qualified_at,
        qualified_by=click_id if qualifies else visits.qualified_by,
        version=visits.version + 1,
    )
    return after, qualifies


class TierStates:
    """The visitors' tier state in the state table (see the module's docstring)."""

    def __init__(self, dynamodb: Any, table: str, attempts: int = ATTEMPTS):
        self.ddb = dynamodb
        self.table = table
        self.attempts = attempts

    def count(self, tier: Tier, visitor_id: str, click_id: str, at: datetime) -> bool:
        """Count a click for a visitor; True when it is the click that qualifies them (again
        on a replay of that click). Raises when the state cannot be read or written."""
        pk = tier_key(tier.id, visitor_id)
        converted_ms = self._converted_ms(visitor_id) if tier.exclude_converted else None
        at_ms = _ms(at)
        for _ in range(self.attempts):
            visits = Visits.decode(self._item(pk))
            after, qualifies = step(visits, tier, click_id, at_ms, converted_ms)
            if after is None:
                return qualifies
            try:
                self._put(pk, after, tier, visits.version)
            except self.ddb.exceptions.ConditionalCheckFailedException:
                continue  # another dispatcher counted a click of this visitor first: read again
            return qualifies
        raise TierContention(pk)

    def note_purchase(self, visitor_id: str, at: datetime) -> None:
        """Remember a visitor's attributed purchase (the latest one wins)."""
        at_ms = _ms(at)
        expires = at_ms // 1000 + MAX_WINDOW_DAYS * 86400
        with contextlib.suppress(self.ddb.exceptions.ConditionalCheckFailedException):
            # A later purchase may be remembered already: it stays.
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": converted_key(visitor_id)},
                    "at": {"N": str(at_ms)},
                    "expires_at": {"N": str(expires)},
                },
                ConditionExpression="attribute_not_exists(pk) OR #at < :at",
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues={":at": {"N": str(at_ms)}},
            )

    def _converted_ms(self, visitor_id: str) -> int | None:
        item = self._item(converted_key(visitor_id))
        return int(item["at"]["N"]) if item else None

    def _item(self, pk: str) -> dict[str, Any] | None:
        return self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
        ).get("Item")

    def _put(self, pk: str, visits: Visits, tier: Tier, version: int) -> None:
        window_s = int(tier.window.total_seconds())
        last = max([ms for ms, _ in visits.clicks] + [visits.qualified_at or 0])
        item: dict[str, Any] = {
            "pk": {"S": pk},
            "clicks": {"S": json.dumps([list(c) for c in visits.clicks], separators=(",", ":"))},
            "version": {"N": str(visits.version)},
            "expires_at": {"N": str(last // 1000 + window_s)},
        }
        if visits.qualified_at is not None:
            item["qualified_at"] = {"N": str(visits.qualified_at)}
            item["qualified_by"] = {"S": str(visits.qualified_by)}
        if version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
        self.ddb.put_item(TableName=self.table, Item=item, **condition)


def is_purchase(envelope: Mapping[str, Any]) -> bool:
    """An attributed purchase of a click that counts towards tiers."""
    conversion = envelope.get("conversion") or {}
    click = envelope.get("click") or {}
    return bool(
        conversion.get("attributed") and conversion.get("event") == PURCHASE and counts(click)
    )


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
