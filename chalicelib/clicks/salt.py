"""The daily salt of the visitor hash: random, shared by all containers, destroyed after its day.

It lives in the state table under `salt#YYYY-MM-DD` with a TTL at the end of the day; DynamoDB's
TTL sweeper may take a while, so `destroy_before` also deletes old salts explicitly (the rollup
calls it). A container reads the day's salt once and keeps it in memory until the date changes.

When the table cannot give the day's salt (throttled, down), a redirect still needs a visitor id:
the container then makes a random salt of its own, keeps it in memory for that day only and never
writes it anywhere, and tries the shared salt again after ``retry_after`` seconds. A denied
visitor's id is then stable within that container but not across containers until the table
answers again: unique-visitor counts rise a little during an outage; privacy does not change.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.aws.calls import error_code

log = logging.getLogger(__name__)


def salt_key(day: str) -> str:
    return f"salt#{day}"


class DailySalt:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        retry_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ddb = dynamodb
        self.table = table
        self.retry_after = retry_after
        self.clock = clock
        self._day: str | None = None
        self._salt: bytes | None = None
        self._shared = False  # False: a process-local fallback, to be replaced when possible
        self._retry_at = 0.0

    def for_time(self, now: datetime) -> bytes:
        """The salt of ``now``'s UTC day. Never raises: see the module docstring."""
        day = now.astimezone(UTC).strftime("%Y-%m-%d")
        fresh = self._shared or self.clock() < self._retry_at
        if day == self._day and self._salt is not None and fresh:
            return self._salt
        try:
            salt, shared = self._fetch_or_create(day, now), True
        except Exception as exc:
            log.warning("daily salt unavailable (%s): using a process-local salt", error_code(exc))
            same_day_local = day == self._day and self._salt is not None
            salt = self._salt if same_day_local and self._salt else secrets.token_bytes(32)
            shared, self._retry_at = False, self.clock() + self.retry_after
        self._day, self._salt, self._shared = day, salt, shared
        return salt

    def _fetch_or_create(self, day: str, now: datetime) -> bytes:
        key = {"pk": {"S": salt_key(day)}}
        item = self.ddb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        if item:
            return item["salt"]["B"]
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
        expires = int((start + timedelta(days=1)).timestamp())
        salt = secrets.token_bytes(32)
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={**key, "salt": {"B": salt}, "expires_at": {"N": str(expires)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return salt
        except self.ddb.exceptions.ConditionalCheckFailedException:
            # Another container created it first: use theirs, so the hash is stable for the day.
            item = self.ddb.get_item(TableName=self.table, Key=key, ConsistentRead=True)["Item"]
            return item["salt"]["B"]


def destroy_before(dynamodb: Any, table: str, now: datetime, keep_days: int = 1) -> int:
    """Delete the salts of days before today (and before the kept window); returns how many."""
    deleted = 0
    today = now.astimezone(UTC).date()
    for back in range(keep_days, keep_days + 7):
        day = (today - timedelta(days=back)).strftime("%Y-%m-%d")
        resp = dynamodb.delete_item(
            TableName=table, Key={"pk": {"S": salt_key(day)}}, ReturnValues="ALL_OLD"
        )
        deleted += 1 if resp.get("Attributes") else 0
    return deleted
