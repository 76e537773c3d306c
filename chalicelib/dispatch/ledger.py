"""Per-event idempotency: an event goes to a platform once, however often its batch is replayed.

Before sending, the dispatcher *claims* (platform, event id) with a conditional put; a claim is a
lease, so a Lambda that dies mid-send lets a later replay claim it again once the lease is over.
After the attempt the record is *settled* (sent, dead-lettered, rejected, skipped) and a replay
finds it and sends nothing. Records expire with the state table's TTL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

PENDING = "pending"
SENT, DRY_RUN, DEAD, REJECTED, SKIPPED = "sent", "dry_run", "dead", "rejected", "skipped"


def ledger_key(platform: str, event_id: str) -> str:
    return f"event#{platform}#{event_id}"


class Ledger:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        lease: timedelta = timedelta(minutes=5),
        keep: timedelta = timedelta(days=7),
    ):
        self.ddb = dynamodb
        self.table = table
        self.lease = lease
        self.keep = keep

    def claim(self, platform: str, event_id: str, now: datetime) -> bool:
        """True when this caller may send the event (nobody sent or is sending it)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": ledger_key(platform, event_id)},
                    "status": {"S": PENDING},
                    "claimed_until": {"N": str(int((now + self.lease).timestamp()))},
                    "expires_at": {"N": str(int((now + self.keep).timestamp()))},
                },
                ConditionExpression="attribute_not_exists(pk) OR (#s = :pending AND claimed_until < :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":pending": {"S": PENDING},
                    ":now": {"N": str(int(now.timestamp()))},
                },
            )
            return True
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False

    def settle(self, platform: str, event_id: str, status: str, reason: str = "") -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key={"pk": {"S": ledger_key(platform, event_id)}},
            UpdateExpression="SET #s = :s, reason = :r REMOVE claimed_until",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}, ":r": {"S": reason[:500]}},
        )

    def status(self, platform: str, event_id: str) -> str | None:
        item = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": ledger_key(platform, event_id)}},
            ConsistentRead=True,
        ).get("Item")
        return item["status"]["S"] if item else None
