"""`max_clicks`: one conditional counter update per human click on a capped link."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def counter_key(host: str, slug: str) -> str:
    return f"clicks#{host.lower()}#{slug.lower()}"


class ClickCounter:
    def __init__(self, dynamodb: Any, table: str):
        self.ddb = dynamodb
        self.table = table

    def consume(self, host: str, slug: str, limit: int) -> bool:
        """Count one click; False once `limit` clicks were counted.

        Fails open: if the store cannot be reached the click is let through (and logged), because
        a throttled counter must not break a live campaign's links.
        """
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": counter_key(host, slug)}},
                UpdateExpression="ADD n :one",
                ConditionExpression="attribute_not_exists(n) OR n < :limit",
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(limit)}},
            )
            return True
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                return False
            log.warning("max_clicks counter unavailable for %s/%s: %s", host, slug, code or exc)
            return True

    def count(self, host: str, slug: str) -> int:
        item = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": counter_key(host, slug)}}, ConsistentRead=True
        ).get("Item")
        return int(item["n"]["N"]) if item else 0
