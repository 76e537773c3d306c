"""In-memory cache of config items for the redirect: fresh for a TTL, served stale when the store
fails, bounded (least recently used out first).

Two bounded LRUs, so that a flood of unknown or random slugs (each a cached "no such item")
pushes out other misses only, never the links people click: ``max_entries`` items that exist,
``max_missing`` (a tenth of that by default) remembered misses.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

DEFAULT_MAX_ENTRIES = 10_000
SIZE_ENV = "REBOUND_LINK_CACHE_SIZE"


class StoreUnavailable(Exception):
    """The store failed and nothing (not even a stale copy) is cached for this key."""


def default_size() -> int:
    """Items a container keeps (``REBOUND_LINK_CACHE_SIZE``, default 10,000; at ~2 KB a link
    doc, about 20 MB). Anything but a positive integer gives the default."""
    value = os.environ.get(SIZE_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_ENTRIES


class ConfigCache:
    """Maps pk -> doc (or None for "no such item", which is cached too).

    After a failed refresh the stale value is kept and the next attempt waits `retry_after`
    seconds, so a store outage does not turn every request into a slow failing call. An item
    evicted for room is gone: it cannot be served stale.
    """

    def __init__(
        self,
        ttl: float,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_entries: int | None = None,
        max_missing: int | None = None,
    ):
        self.ttl = ttl
        self.retry_after = retry_after
        self.clock = clock
        self.max_entries = max_entries or default_size()
        self.max_missing = max_missing or max(1, self.max_entries // 10)
        # pk -> (value, expires); most recently used last.
        self._found: OrderedDict[str, tuple[Any, float]] = OrderedDict()
        self._missing: OrderedDict[str, tuple[None, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._found) + len(self._missing)

    def get(self, pk: str, load: Callable[[str], Any]) -> Any:
        now = self.clock()
        entry = self._found.get(pk) or self._missing.get(pk)
        if entry is not None and now < entry[1]:
            self._touch(pk)
            return entry[0]
        try:
            fresh = load(pk)
        except Exception as exc:
            if entry is None:
                raise StoreUnavailable(pk) from exc
            self._put(pk, entry[0], now + self.retry_after)
            return entry[0]
        self._put(pk, fresh, now + self.ttl)
        return fresh

    def seed(self, pk: str, value: Any) -> None:
        """Remember a value learnt without a read (e.g. a domain's site from one of its links)."""
        now = self.clock()
        entry = self._found.get(pk) or self._missing.get(pk)
        if entry is None or entry[1] <= now:
            self._put(pk, value, now + self.ttl)

    def clear(self) -> None:
        self._found.clear()
        self._missing.clear()

    def _touch(self, pk: str) -> None:
        (self._found if pk in self._found else self._missing).move_to_end(pk)

    def _put(self, pk: str, value: Any, expires: float) -> None:
        table, other, bound = (
            (self._missing, self._found, self.max_missing)
            if value is None
            else (self._found, self._missing, self.max_entries)
        )
        other.pop(pk, None)  # a link deleted (or created) since it was last read
        table[pk] = (value, expires)
        table.move_to_end(pk)
        while len(table) > bound:
            table.popitem(last=False)
