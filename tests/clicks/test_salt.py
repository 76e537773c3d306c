"""The daily salt when the state table fails: a process-local salt, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from chalicelib.clicks.salt import DailySalt

DAY = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class StateTable:
    """A DynamoDB client for the salt item that fails while ``down`` is set."""

    class exceptions:
        class ConditionalCheckFailedException(Exception):
            pass

    def __init__(self, down: bool = True):
        self.down = down
        self.items: dict[str, dict] = {}
        self.calls: list[str] = []

    def _maybe_fail(self, operation: str) -> None:
        self.calls.append(operation)
        if self.down:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, operation)

    def get_item(self, *, TableName, Key, ConsistentRead=False):
        self._maybe_fail("GetItem")
        item = self.items.get(Key["pk"]["S"])
        return {"Item": item} if item else {}

    def put_item(self, *, TableName, Item, ConditionExpression=None):
        self._maybe_fail("PutItem")
        self.items[Item["pk"]["S"]] = Item


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_unreachable_state_table_gives_a_process_local_salt_instead_of_raising():
    table = StateTable(down=True)
    salt = DailySalt(table, "state").for_time(DAY)
    assert isinstance(salt, bytes) and len(salt) == 32


def test_the_local_salt_is_kept_for_the_day_and_never_written():
    table, clock = StateTable(down=True), Clock()
    salts = DailySalt(table, "state", clock=clock)
    first = salts.for_time(DAY)
    table.down = False  # even when the table comes back, a retry waits for retry_after
    assert salts.for_time(DAY + timedelta(hours=1)) == first
    assert table.items == {}
    assert "PutItem" not in table.calls


def test_the_local_salt_is_kept_while_the_table_stays_down():
    table, clock = StateTable(down=True), Clock()
    salts = DailySalt(table, "state", clock=clock, retry_after=60)
    first = salts.for_time(DAY)
    clock.now += 61
    assert salts.for_time(DAY) == first
    assert table.calls == ["GetItem", "GetItem"]


def test_the_shared_salt_is_tried_again_after_retry_after_and_then_kept():
    table, clock = StateTable(down=True), Clock()
    salts = DailySalt(table, "state", clock=clock, retry_after=60)
    local = salts.for_time(DAY)
    table.down = False
    clock.now += 61
    shared = salts.for_time(DAY)
    assert shared != local
    assert table.items["salt#2026-11-23"]["salt"]["B"] == shared
    calls = len(table.calls)
    clock.now += 3600
    assert salts.for_time(DAY) == shared and len(table.calls) == calls


def test_each_day_gets_its_own_local_salt():
    salts = DailySalt(StateTable(down=True), "state", clock=Clock())
    assert salts.for_time(DAY) != salts.for_time(DAY + timedelta(days=1))


def test_a_failed_put_after_a_miss_falls_back_to_a_local_salt():
    table = StateTable(down=False)

    def put_item(**kw):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "PutItem")

    table.put_item = put_item
    assert len(DailySalt(table, "state").for_time(DAY)) == 32
    assert table.items == {}


def test_a_timed_out_state_table_gives_a_local_salt_instead_of_raising():
    """botocore's timeouts carry ``response = None``: reading a code from it must not raise."""
    from botocore.exceptions import ReadTimeoutError

    class TimingOut(StateTable):
        def _maybe_fail(self, operation: str) -> None:
            self.calls.append(operation)
            raise ReadTimeoutError(endpoint_url="https://dynamodb.example")

    salt = DailySalt(TimingOut(), "state")
    assert len(salt.for_time(DAY)) == 32
