"""The config table: read everything, write a plan all-or-nothing with optimistic concurrency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.links.record import from_item, to_item

# DynamoDB's limit of items in one TransactWriteItems call.
TRANSACTION_LIMIT = 100


@dataclass(frozen=True)
class LiveItem:
    pk: str
    kind: str
    doc: dict[str, Any]
    version: int


@dataclass(frozen=True)
class Write:
    """One item to create, replace or delete. `expected_version` None means "must not exist"."""

    pk: str
    kind: str
    doc: dict[str, Any] | None  # None: delete
    expected_version: int | None
    previous: dict[str, Any] | None = None  # the live doc, to roll back an update or delete


class ConcurrentChangeError(Exception):
    """Someone changed the store after we read it; nothing of ours was left written."""

    def __init__(self, pks: list[str]):
        self.pks = pks
        super().__init__(
            "the live config changed since it was read (" + ", ".join(pks) + "); "
            "run plan again and re-apply"
        )


class ConfigStore:
    def __init__(self, dynamodb: Any, table: str):
        self.ddb = dynamodb
        self.table = table

    def read_all(self) -> dict[str, LiveItem]:
        items: dict[str, LiveItem] = {}
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.ddb.scan(**kwargs)
            for raw in page.get("Items", []):
                pk, kind, doc, version = from_item(raw)
                items[pk] = LiveItem(pk, kind, doc, version)
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, pk: str) -> LiveItem | None:
        raw = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True)
        if "Item" not in raw:
            return None
        pk, kind, doc, version = from_item(raw["Item"])
        return LiveItem(pk, kind, doc, version)

    def write(self, writes: list[Write]) -> None:
        """Apply every write or none.

        Each chunk of up to 100 writes is one DynamoDB transaction, conditioned on the versions
        we read. If a later chunk is refused, the chunks already committed are rolled back
        (conditioned on our own new versions), so a refused apply leaves the store as it was.
        """
        done: list[Write] = []
        for start in range(0, len(writes), TRANSACTION_LIMIT):
            chunk = writes[start : start + TRANSACTION_LIMIT]
            try:
                self._transact(chunk)
            except Exception:
                self._roll_back(done)
                raise
            done.extend(chunk)

    def _transact(self, chunk: list[Write]) -> None:
        ops = [self._op(w) for w in chunk]
        try:
            self.ddb.transact_write_items(TransactItems=ops)
        except self.ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            failed = [
                w.pk
                for w, r in zip(chunk, reasons, strict=False)
                if r.get("Code") == "ConditionalCheckFailed"
            ]
            if failed or not reasons:
                raise ConcurrentChangeError(failed or [w.pk for w in chunk]) from exc
            raise

    def _op(self, w: Write) -> dict[str, Any]:
        if w.expected_version is None:
            cond: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            cond = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(w.expected_version)}},
            }
        if w.doc is None:
            return {"Delete": {"TableName": self.table, "Key": {"pk": {"S": w.pk}}, **cond}}
        version = (w.expected_version or 0) + 1
        item = to_item(w.pk, w.kind, w.doc, version)
        return {"Put": {"TableName": self.table, "Item": item, **cond}}

    def _roll_back(self, done: list[Write]) -> None:
        """Undo committed writes, each conditioned on the version we wrote."""
        first_error: Exception | None = None
        for w in done:
            try:
                self._undo(w)
            except Exception as exc:  # keep rolling back the rest; report the first failure
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    def _undo(self, w: Write) -> None:
        ours = {":v": {"N": str((w.expected_version or 0) + 1)}}
        if w.expected_version is None:  # we created it: delete it again
            self.ddb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": w.pk}},
                ConditionExpression="version = :v",
                ExpressionAttributeValues=ours,
            )
        elif w.doc is None:  # we deleted it: put it back
            self.ddb.put_item(
                TableName=self.table,
                Item=to_item(w.pk, w.kind, w.previous or {}, w.expected_version),
                ConditionExpression="attribute_not_exists(pk)",
            )
        else:  # we replaced it: restore the previous doc and version
            self.ddb.put_item(
                TableName=self.table,
                Item=to_item(w.pk, w.kind, w.previous or {}, w.expected_version),
                ConditionExpression="version = :v",
                ExpressionAttributeValues=ours,
            )
