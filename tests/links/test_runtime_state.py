"""The redirect's runtime state on moto: link cache, max_clicks counter, daily salt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks.salt import DailySalt, destroy_before, salt_key
from chalicelib.links.cache import ConfigCache, StoreUnavailable
from chalicelib.links.counter import ClickCounter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_cache_serves_fresh_then_reloads_after_ttl():
    clock, calls = Clock(), []
    cache = ConfigCache(ttl=30, clock=clock)

    def load(pk):
        calls.append(pk)
        return {"n": len(calls)}

    assert cache.get("k", load) == {"n": 1}
    assert cache.get("k", load) == {"n": 1}
    clock.t += 31
    assert cache.get("k", load) == {"n": 2}
    assert calls == ["k", "k"]


def test_cache_remembers_missing_items():
    clock, calls = Clock(), []
    cache = ConfigCache(ttl=30, clock=clock)
    assert cache.get("k", lambda pk: calls.append(pk)) is None
    assert cache.get("k", lambda pk: calls.append(pk)) is None
    assert calls == ["k"]


def test_cache_serves_stale_when_the_store_fails_and_backs_off():
    clock = Clock()
    cache = ConfigCache(ttl=30, retry_after=1, clock=clock)
    cache.get("k", lambda pk: "v1")
    clock.t += 31
    attempts = []

    def broken(pk):
        attempts.append(pk)
        raise ConnectionError("dynamodb down")

    assert cache.get("k", broken) == "v1"
    assert cache.get("k", broken) == "v1"  # within retry_after: no second attempt
    assert len(attempts) == 1
    clock.t += 2
    assert cache.get("k", broken) == "v1"
    assert len(attempts) == 2


def test_cache_with_nothing_cached_reports_the_store_unavailable():
    cache = ConfigCache(ttl=30, clock=Clock())
    with pytest.raises(StoreUnavailable):
        cache.get("k", lambda pk: (_ for _ in ()).throw(ConnectionError("down")))


def test_counter_allows_exactly_max_clicks(aws):
    counter = ClickCounter(client("dynamodb"), Names.from_env().state_table)
    results = [counter.consume("go.localhost", "Capped", 3) for _ in range(5)]
    assert results == [True, True, True, False, False]
    assert counter.count("GO.localhost", "capped") == 3


def test_counter_fails_open_when_the_store_is_unreachable(aws):
    class Broken:
        def update_item(self, **kw):
            raise ConnectionError("timeout")

    assert ClickCounter(Broken(), "t").consume("d", "s", 1) is True


def test_daily_salt_is_shared_stable_within_a_day_and_new_the_next(aws):
    names = Names.from_env()
    ddb = client("dynamodb")
    noon = datetime(2026, 11, 23, 12, tzinfo=UTC)
    a, b = DailySalt(ddb, names.state_table), DailySalt(ddb, names.state_table)
    assert a.for_time(noon) == b.for_time(noon + timedelta(hours=5))  # two containers agree
    assert len(a.for_time(noon)) == 32
    assert a.for_time(noon + timedelta(days=1)) != a.for_time(noon)
    item = ddb.get_item(TableName=names.state_table, Key={"pk": {"S": salt_key("2026-11-23")}})
    expires = int(item["Item"]["expires_at"]["N"])
    assert expires == int(datetime(2026, 11, 24, tzinfo=UTC).timestamp())


def test_old_salts_are_destroyed(aws):
    names = Names.from_env()
    ddb = client("dynamodb")
    day1 = datetime(2026, 11, 23, 12, tzinfo=UTC)
    DailySalt(ddb, names.state_table).for_time(day1)
    DailySalt(ddb, names.state_table).for_time(day1 + timedelta(days=1))
    assert destroy_before(ddb, names.state_table, day1 + timedelta(days=1)) == 1
    assert "Item" not in ddb.get_item(
        TableName=names.state_table, Key={"pk": {"S": salt_key("2026-11-23")}}
    )
    assert "Item" in ddb.get_item(
        TableName=names.state_table, Key={"pk": {"S": salt_key("2026-11-24")}}
    )


def test_the_scheduled_shredder_destroys_yesterdays_salt(aws):
    from infra.provision import load_app

    names = Names.from_env()
    ddb = client("dynamodb")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    DailySalt(ddb, names.state_table).for_time(yesterday)
    DailySalt(ddb, names.state_table).for_time(datetime.now(UTC))
    from rebound.worker import LocalWorker

    worker = LocalWorker(load_app(), client("kinesis"), "us-east-1")
    worker.run_schedules()  # what the local stack does every minute; EventBridge hourly
    key = salt_key(yesterday.strftime("%Y-%m-%d"))
    assert "Item" not in ddb.get_item(TableName=names.state_table, Key={"pk": {"S": key}})
