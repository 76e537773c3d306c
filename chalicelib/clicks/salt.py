"""The daily salt of the visitor hash: random, shared by all containers, destroyed after its day.

It lives in the state table under `salt#YYYY-MM-DD` with a TTL at the end of the day; DynamoDB's
TTL sweeper may take a while, so `destroy_before` also deletes old salts explicitly (the rollup
calls it). A container reads the day's salt once and keeps it in memory until the date changes.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any


def salt_key(day: str) -> str:
    return f"salt#{day}"


class DailySalt:
    def __init__(self, dynamodb: Any, table: str):
        self.ddb = dynamodb
        self.table = table
        self._day: str | None = None
        self._salt: bytes | None = None

    def for_time(self, now: datetime) -> bytes:
        day = now.astimezone(UTC).strftime("%Y-%m-%d")
        if day != self._day or self._salt is None:
            self._salt = self._fetch_or_create(day, now)
            self._day = day
        return self._salt

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
