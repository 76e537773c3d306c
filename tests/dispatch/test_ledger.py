"""The ledger: claims that tell in flight from settled, scoped keys, and the batched settle (25 a
request, unprocessed items retried, then one by one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.dispatch import ledger as ledger_module
from chalicelib.dispatch.ledger import DEAD, SENT, Claim, Claimed, Ledger, ledger_key

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


class FakeDynamoDB:
    """Records writes; `throttle` items come back unprocessed that many times each."""

    def __init__(self, throttle: int = 0):
        self.throttle = throttle
        self.batches: list[int] = []
        self.puts: list[str] = []
        self.items: dict[str, dict] = {}
        self._refused: dict[str, int] = {}

    def batch_write_item(self, RequestItems):
        ((table, requests),) = RequestItems.items()
        assert len(requests) <= 25
        self.batches.append(len(requests))
        left = []
        for r in requests:
            item = r["PutRequest"]["Item"]
            pk = item["pk"]["S"]
            if self._refused.get(pk, 0) < self.throttle:
                self._refused[pk] = self._refused.get(pk, 0) + 1
                left.append(r)
            else:
                self.items[pk] = item
        return {"UnprocessedItems": {table: left} if left else {}}

    def put_item(self, TableName, Item):
        self.puts.append(Item["pk"]["S"])
        self.items[Item["pk"]["S"]] = Item


def keys(platform: str, ids: list[str]) -> list[str]:
    return [ledger_key(platform, "go.brand.com", "page_view", i) for i in ids]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(ledger_module.time, "sleep", lambda s: None)


def test_events_are_settled_25_a_request_each_once_with_the_final_status():
    ddb = FakeDynamoDB()
    ids = [f"e{i}" for i in range(60)] + ["e0"]  # a duplicate is settled once

    Ledger(ddb, "state").settle_many(keys("meta", ids), SENT, "ok", NOW)

    assert ddb.batches == [25, 25, 10]
    assert len(ddb.items) == 60 and ddb.puts == []
    item = ddb.items["event#meta#go.brand.com#page_view#e7"]
    assert item["status"] == {"S": SENT} and item["reason"] == {"S": "ok"}
    assert int(item["expires_at"]["N"]) == int(NOW.timestamp()) + 7 * 86400
    assert "claimed_until" not in item  # the claim's lease is gone with the claim


def test_unprocessed_items_are_retried_in_batches():
    ddb = FakeDynamoDB(throttle=2)

    Ledger(ddb, "state").settle_many(keys("tiktok", ["a", "b", "c"]), SENT, "", NOW)

    assert ddb.batches == [3, 3, 3] and ddb.puts == []
    assert set(ddb.items) == set(keys("tiktok", ["a", "b", "c"]))


def test_items_still_throttled_after_the_retries_are_written_one_by_one():
    ddb = FakeDynamoDB(throttle=99)

    Ledger(ddb, "state").settle_many(keys("reddit", ["a", "b"]), "dead", "permanent", NOW)

    assert len(ddb.batches) == ledger_module.BATCH_RETRIES
    assert ddb.puts == keys("reddit", ["a", "b"])
    assert ddb.items[keys("reddit", ["b"])[0]]["status"] == {"S": "dead"}


def test_a_failed_batch_call_is_written_one_by_one_instead_of_resending_later():
    class Refusing(FakeDynamoDB):
        def batch_write_item(self, RequestItems):
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "BatchWriteItem")

    ddb = Refusing()

    Ledger(ddb, "state").settle_many(keys("meta", ["a", "b"]), SENT, "HTTP 200", NOW)

    assert ddb.puts == keys("meta", ["a", "b"])
    assert {i["status"]["S"] for i in ddb.items.values()} == {SENT}


def test_keys_are_scoped_by_platform_domain_kind_and_id():
    click = ledger_key("meta", "Go.Brand.com", "page_view", "01JCLICK")
    assert click == "event#meta#go.brand.com#page_view#01JCLICK"
    assert ledger_key("meta", "go.brand.com", "lead", "01JCLICK") != click
    assert ledger_key("meta", "shop.brand.com", "page_view", "01JCLICK") != click
    assert ledger_key("tiktok", "go.brand.com", "page_view", "01JCLICK") != click
    # A merchant's "#" cannot make two events share a key.
    assert ledger_key("meta", "d", "a#b", "c") != ledger_key("meta", "d", "a", "b#c")


def test_a_claim_is_in_flight_until_settled_or_over_and_free_again_once_released(aws):
    ledger = Ledger(client("dynamodb"), Names.from_env().state_table)
    key = keys("meta", ["e1"])[0]
    until = NOW + timedelta(seconds=30)

    assert ledger.claim(key, NOW, until) == Claimed(Claim.MINE)
    assert ledger.claim(key, NOW + timedelta(seconds=29), until) == Claimed(Claim.IN_FLIGHT, until)
    assert ledger.claim(key, NOW + timedelta(seconds=31)).state is Claim.MINE  # the first ran out

    ledger.release_many([key])
    assert ledger.status(key) is None
    assert ledger.claim(key, NOW, until).state is Claim.MINE

    ledger.settle_many([key], DEAD, "permanent: HTTP 400", NOW)
    assert ledger.claim(key, NOW + timedelta(days=1), until) == Claimed(Claim.SETTLED)
