"""Recording a send that went out: the write the whole "never twice" rests on is worth a retry
(found by the fault matrix: a throttled batch settle, then a throttled one-by-one settle, left
the claim to run out and the replay sent a lead to the email tool twice)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from chalicelib.dispatch import ledger as ledger_module
from chalicelib.dispatch.ledger import SENT, Ledger

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def throttled(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, operation
    )


class FlakyTable:
    """BatchWriteItem always throttled; PutItem throttled ``failures`` times, then fine."""

    def __init__(self, failures: int):
        self.failures = failures
        self.items: dict[str, dict] = {}
        self.puts = 0

    def batch_write_item(self, **_):
        raise throttled("BatchWriteItem")

    def put_item(self, TableName: str, Item: dict, **_):
        self.puts += 1
        if self.failures:
            self.failures -= 1
            raise throttled("PutItem")
        self.items[Item["pk"]["S"]] = Item


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(ledger_module.time, "sleep", lambda _s: None)


def test_a_settle_throttled_in_batch_and_once_alone_still_lands():
    table = FlakyTable(failures=1)
    Ledger(table, "ledger").settle_many(["event#klaviyo#d#lead#1"], SENT, "HTTP 202", NOW)
    assert table.items["event#klaviyo#d#lead#1"]["status"]["S"] == SENT
    assert table.puts == 2


def test_a_settle_that_keeps_failing_raises_after_a_bounded_number_of_tries():
    table = FlakyTable(failures=99)
    with pytest.raises(ClientError):
        Ledger(table, "ledger").settle_many(["k"], SENT, "HTTP 202", NOW)
    assert table.puts == ledger_module.ONE_BY_ONE_TRIES
