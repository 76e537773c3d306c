"""In-memory cache of config items for the redirect: fresh for a TTL, served stale when the store fails."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

_MISSING = object()


class StoreUnavailable(Exception):
    """The store failed and nothing (not even a stale copy) is cached for this key."""


class LinkCache:
    """Maps pk -> doc (or None for "no such item", which is cached too).

    After a failed refresh the stale value is kept and the next attempt waits `retry_after`
    seconds, so a store outage does not turn every request into a slow failing call.
    """

    def __init__(
        self, ttl: float, retry_after: float = 1.0, clock: Callable[[], float] = time.monotonic
    ):
        self.ttl = ttl
        self.retry_after = retry_after
        self.clock = clock
        self._entries: dict[str, tuple[Any, float]] = {}

    def get(self, pk: str, load: Callable[[str], Any]) -> Any:
        now = self.clock()
        value, expires = self._entries.get(pk, (_MISSING, 0.0))
        if value is not _MISSING and now < expires:
            return value
        try:
            fresh = load(pk)
        except Exception as exc:
            if value is _MISSING:
                raise StoreUnavailable(pk) from exc
            self._entries[pk] = (value, now + self.retry_after)
            return value
        self._entries[pk] = (fresh, now + self.ttl)
        return fresh

    def seed(self, pk: str, value: Any) -> None:
        """Remember a value learnt without a read (e.g. a domain's site from one of its links)."""
        if pk not in self._entries or self._entries[pk][1] <= self.clock():
            self._entries[pk] = (value, self.clock() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()
