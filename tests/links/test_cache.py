"""The link cache is bounded: least recently used out first, and unknown slugs never push out
the links people click."""

from __future__ import annotations

import pytest

from chalicelib.links.cache import DEFAULT_MAX_ENTRIES, ConfigCache, StoreUnavailable, default_size


class Store:
    """Docs for keys starting with "link", nothing for the rest; counts the reads."""

    def __init__(self) -> None:
        self.reads: list[str] = []
        self.down = False

    def load(self, pk: str):
        self.reads.append(pk)
        if self.down:
            raise RuntimeError("store down")
        return {"pk": pk} if pk.startswith("link") else None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_never_holds_more_than_its_bound():
    store, cache = Store(), ConfigCache(ttl=30, clock=Clock(), max_entries=3)
    for i in range(10):
        cache.get(f"link#{i}", store.load)
    assert len(cache) == 3


def test_the_least_recently_used_link_is_evicted_first():
    store, cache = Store(), ConfigCache(ttl=30, clock=Clock(), max_entries=2)
    cache.get("link#a", store.load)
    cache.get("link#b", store.load)
    cache.get("link#a", store.load)  # a is used again: b is now the oldest
    cache.get("link#c", store.load)
    store.reads.clear()
    cache.get("link#a", store.load)
    assert store.reads == []
    cache.get("link#b", store.load)
    assert store.reads == ["link#b"]


def test_unknown_slugs_never_evict_the_links_people_click():
    store, cache = Store(), ConfigCache(ttl=30, clock=Clock(), max_entries=10)
    cache.get("link#hot", store.load)
    for i in range(1000):
        assert cache.get(f"nope#{i}", store.load) is None
    store.reads.clear()
    assert cache.get("link#hot", store.load) == {"pk": "link#hot"}
    assert store.reads == []


def test_unknown_slugs_are_cached_but_bounded_too():
    store, cache = Store(), ConfigCache(ttl=30, clock=Clock(), max_entries=100, max_missing=5)
    for i in range(50):
        cache.get(f"nope#{i}", store.load)
    assert len(cache) == 5
    store.reads.clear()
    cache.get("nope#49", store.load)  # a recent miss is still remembered
    assert store.reads == []


def test_a_link_created_after_a_miss_is_found_once_the_miss_expires():
    store, clock = Store(), Clock()
    cache = ConfigCache(ttl=30, clock=clock, max_entries=10)
    assert cache.get("later", store.load) is None
    store.load = lambda pk: {"pk": pk}
    clock.now += 31
    assert cache.get("later", store.load) == {"pk": "later"}
    assert len(cache) == 1


def test_an_evicted_entry_is_not_served_stale_when_the_store_fails():
    store, clock = Store(), Clock()
    cache = ConfigCache(ttl=30, clock=clock, max_entries=1)
    cache.get("link#a", store.load)
    cache.get("link#b", store.load)
    clock.now += 31
    store.down = True
    assert cache.get("link#b", store.load) == {"pk": "link#b"}  # stale, still served
    with pytest.raises(StoreUnavailable):
        cache.get("link#a", store.load)


def test_seeding_respects_the_bound():
    cache = ConfigCache(ttl=30, clock=Clock(), max_entries=2)
    for i in range(5):
        cache.seed(f"domain#{i}", {"site": i})
    assert len(cache) == 2


def test_the_bound_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("REBOUND_LINK_CACHE_SIZE", raising=False)
    assert default_size() == DEFAULT_MAX_ENTRIES == 10_000
    monkeypatch.setenv("REBOUND_LINK_CACHE_SIZE", "500")
    assert default_size() == 500
    assert ConfigCache(ttl=30).max_entries == 500
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv("REBOUND_LINK_CACHE_SIZE", bad)
        assert default_size() == DEFAULT_MAX_ENTRIES
