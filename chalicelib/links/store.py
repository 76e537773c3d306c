"""The config table: read everything, write a plan all-or-nothing with optimistic concurrency.

A plan of more than one transaction (DynamoDB takes 100 items in one) is journalled first (see
links/journal.py): the journal is the lock that keeps a second apply out while this one runs, and
what the next apply finishes (or rolls back) when this one is interrupted.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.links.journal import (
    INTERRUPTED,
    JOURNAL_KEY,
    LOCK_TIMEOUT_SECONDS,
    RUNNING,
    Journal,
    Write,
    assess,
    decode_parts,
    encode_parts,
    is_journal_key,
    part_key,
)
from chalicelib.links.record import from_item, to_item

__all__ = [
    "ApplyInProgressError",
    "ConcurrentChangeError",
    "ConfigStore",
    "LiveItem",
    "Write",
]

# DynamoDB's limit of items in one TransactWriteItems call.
TRANSACTION_LIMIT = 100


@dataclass(frozen=True)
class LiveItem:
    pk: str
    kind: str
    doc: dict[str, Any]
    version: int


class ConcurrentChangeError(Exception):
    """Someone changed the store after we read it; what of ours could be undone was undone."""

    def __init__(self, pks: list[str], not_rolled_back: list[str] | None = None, message: str = ""):
        self.pks = pks
        self.not_rolled_back = not_rolled_back or []
        text = message or (
            "the live config changed since it was read (" + ", ".join(pks) + "); "
            "run plan again and re-apply"
        )
        if self.not_rolled_back:
            text += (
                "; these writes of this apply were changed by someone else after it wrote them "
                "and were not rolled back: " + ", ".join(self.not_rolled_back)
            )
        super().__init__(text)


class ApplyInProgressError(Exception):
    """Another apply holds the journal's lock and is still alive."""

    def __init__(self, journal: Journal):
        self.journal = journal
        super().__init__(
            f"another apply is in progress ({journal.source or 'plan ' + journal.plan_id}, "
            f"started {utc(journal.started_at)}): wait for it to finish, then run plan again. "
            "If it was interrupted, apply again after "
            f"{utc(journal.updated_at + LOCK_TIMEOUT_SECONDS)} to finish it"
        )


def utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


class ConfigStore:
    def __init__(self, dynamodb: Any, table: str, clock: Callable[[], float] = time.time):
        self.ddb = dynamodb
        self.table = table
        self.clock = clock
        self.owner = uuid.uuid4().hex  # this process, as holder of the journal's lock

    # --- reading ------------------------------------------------------------------------------

    def read_all(self) -> dict[str, LiveItem]:
        """Every config item (the apply journal is not config: left out)."""
        items: dict[str, LiveItem] = {}
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.ddb.scan(**kwargs)
            for raw in page.get("Items", []):
                if is_journal_key(raw["pk"]["S"]):
                    continue
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

    def journal(self) -> Journal | None:
        """The journal of an apply that is running or was interrupted, or None."""
        raw = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": JOURNAL_KEY}}, ConsistentRead=True
        ).get("Item")
        if raw is None:
            return None
        head = Journal(
            plan_id=raw["plan_id"]["S"],
            owner=raw["owner"]["S"],
            source=raw.get("source", {}).get("S", ""),
            state=raw["state"]["S"],
            started_at=float(raw["started_at"]["N"]),
            updated_at=float(raw["updated_at"]["N"]),
            total=int(raw["total"]["N"]),
            parts=int(raw["parts"]["N"]),
            version=int(raw["version"]["N"]),
        )
        parts = []
        for n in range(head.parts):
            part = self.ddb.get_item(
                TableName=self.table,
                Key={"pk": {"S": part_key(head.plan_id, n)}},
                ConsistentRead=True,
            ).get("Item")
            if part is None:
                return head  # died while writing its parts: nothing was applied
            parts.append(bytes(part["writes"]["B"]))
        return Journal(**{**head.__dict__, "writes": decode_parts(parts)})

    # --- writing ------------------------------------------------------------------------------

    def write(self, writes: list[Write], plan_id: str | None = None, source: str = "") -> None:
        """Apply every write or none.

        The writes are journalled (taking the lock), then written in transactions of up to 100
        items, each conditioned on the versions we read (and a link on its domain's version) and
        bumping the journal's heartbeat. If a transaction is refused or AWS fails, what was
        committed is rolled back (conditioned on our own new versions). If the process is
        interrupted, the journal stays, marked, for the next apply to finish.
        """
        if not writes:
            return
        plan_id = plan_id or uuid.uuid4().hex[:12]
        parts = encode_parts(writes)
        self._lock(plan_id, source, len(writes), len(parts))
        try:
            for n, part in enumerate(parts):
                self.ddb.put_item(
                    TableName=self.table,
                    Item={
                        "pk": {"S": part_key(plan_id, n)},
                        "kind": {"S": "journal"},
                        "writes": {"B": part},
                    },
                )
        except BaseException:
            # Nothing was applied: a journal without all its parts is only a lock to clear.
            self._mark_interrupted()
            raise
        self._run(writes, done=[], plan_id=plan_id, parts=len(parts))

    def recover(self, journal: Journal) -> tuple[int, int]:
        """Finish an interrupted apply (or roll it back when someone changed what it still had to
        write): (writes finished now, total). Raises ApplyInProgressError while its holder lives,
        ConcurrentChangeError after a rollback."""
        if not journal.stale(self.clock()):
            raise ApplyInProgressError(journal)
        self._take_over(journal)
        if journal.writes is None:  # nothing was written: only the lock to clear
            self._clear(journal.plan_id, journal.parts)
            return 0, journal.total
        progress = assess(journal.writes, self.read_all())
        if not progress.finishable:
            not_undone = self._roll_back(progress.done)
            self._clear(journal.plan_id, journal.parts)
            changed = [w.pk for w in progress.changed]
            raise ConcurrentChangeError(
                changed,
                not_undone,
                message=(
                    f"the interrupted apply ({journal.source or 'plan ' + journal.plan_id}) could "
                    f"not be finished: {', '.join(changed)} changed since it was planned; its "
                    f"{len(progress.done) - len(not_undone)} writes were rolled back. "
                    "Run plan again and re-apply"
                ),
            )
        self._run(progress.todo, done=progress.done, plan_id=journal.plan_id, parts=journal.parts)
        return len(progress.todo), journal.total

    # --- internals ----------------------------------------------------------------------------

    def _run(self, todo: list[Write], done: list[Write], plan_id: str, parts: int) -> None:
        done = list(done)
        chunk: list[Write] = []
        try:
            for chunk, guards in chunks(todo):
                self._transact(chunk, guards)
                done.extend(chunk)
            chunk = []
        except ConcurrentChangeError as exc:
            try:
                not_undone = self._roll_back(done)
            except BaseException:
                self._mark_interrupted()
                raise
            self._clear(plan_id, parts)
            raise ConcurrentChangeError(exc.pks, not_undone) from exc
        except Exception:
            # AWS failed (throttled, unreachable, timed out): undo what we can, including what of
            # the failed transaction committed after all; what we cannot stays journalled.
            if self._try_roll_back(done, uncertain=chunk):
                self._clear(plan_id, parts)
            else:
                self._mark_interrupted()
            raise
        except BaseException:  # Ctrl-C, the process told to exit: the next apply finishes it
            self._mark_interrupted()
            raise
        self._clear(plan_id, parts)

    def _lock(self, plan_id: str, source: str, total: int, parts: int) -> None:
        now = self.clock()
        item = {
            "pk": {"S": JOURNAL_KEY},
            "kind": {"S": "journal"},
            "plan_id": {"S": plan_id},
            "owner": {"S": self.owner},
            "source": {"S": source},
            "state": {"S": RUNNING},
            "started_at": {"N": repr(now)},
            "updated_at": {"N": repr(now)},
            "total": {"N": str(total)},
            "parts": {"N": str(parts)},
            "version": {"N": "1"},
        }
        try:
            self.ddb.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except self.ddb.exceptions.ConditionalCheckFailedException:
            held = self.journal()
            if held is None:  # released in the meantime: try once more
                return self._lock(plan_id, source, total, parts)
            raise ApplyInProgressError(held) from None

    def _take_over(self, journal: Journal) -> None:
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": JOURNAL_KEY}},
                UpdateExpression="SET #o = :me, #s = :running, updated_at = :now ADD version :one",
                ConditionExpression="version = :seen",
                ExpressionAttributeNames={"#o": "owner", "#s": "state"},
                ExpressionAttributeValues={
                    ":me": {"S": self.owner},
                    ":running": {"S": RUNNING},
                    ":now": {"N": repr(self.clock())},
                    ":one": {"N": "1"},
                    ":seen": {"N": str(journal.version)},
                },
            )
        except self.ddb.exceptions.ConditionalCheckFailedException:
            raise ApplyInProgressError(self.journal() or journal) from None

    def _heartbeat(self) -> dict[str, Any]:
        """The journal update that rides in every transaction: proves we still hold the lock."""
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": {"S": JOURNAL_KEY}},
                "UpdateExpression": "SET updated_at = :now ADD version :one",
                "ConditionExpression": "#o = :me",
                "ExpressionAttributeNames": {"#o": "owner"},
                "ExpressionAttributeValues": {
                    ":now": {"N": repr(self.clock())},
                    ":one": {"N": "1"},
                    ":me": {"S": self.owner},
                },
            }
        }

    def _mark_interrupted(self) -> None:
        """Best effort: lets the next apply go on at once instead of waiting for the lock to
        go stale."""
        # Suppressed: if even this fails, the lock goes stale by itself.
        with contextlib.suppress(Exception):
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": JOURNAL_KEY}},
                UpdateExpression="SET #s = :interrupted",
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner", "#s": "state"},
                ExpressionAttributeValues={
                    ":me": {"S": self.owner},
                    ":interrupted": {"S": INTERRUPTED},
                },
            )

    def _clear(self, plan_id: str, parts: int) -> None:
        """Parts first, then the head: a head without all its parts means "nothing to finish"."""
        for n in range(parts):
            self.ddb.delete_item(TableName=self.table, Key={"pk": {"S": part_key(plan_id, n)}})
        self.ddb.delete_item(
            TableName=self.table,
            Key={"pk": {"S": JOURNAL_KEY}},
            ConditionExpression="#o = :me",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":me": {"S": self.owner}},
        )

    def _transact(self, chunk: list[Write], guards: dict[str, int | None]) -> None:
        ops = [self._op(w) for w in chunk]
        checks = [
            {"ConditionCheck": {"TableName": self.table, "Key": {"pk": {"S": pk}}, **_expect(v)}}
            for pk, v in guards.items()
        ]
        labels = [w.pk for w in chunk] + list(guards) + [JOURNAL_KEY]
        try:
            self.ddb.transact_write_items(TransactItems=ops + checks + [self._heartbeat()])
        except self.ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            failed = [
                label
                for label, r in zip(labels, reasons, strict=False)
                if r.get("Code") == "ConditionalCheckFailed"
            ]
            if failed or not reasons:
                raise ConcurrentChangeError(failed or [w.pk for w in chunk]) from exc
            raise

    def _op(self, w: Write) -> dict[str, Any]:
        cond = _expect(w.expected_version)
        if w.doc is None:
            return {"Delete": {"TableName": self.table, "Key": {"pk": {"S": w.pk}}, **cond}}
        item = to_item(w.pk, w.kind, w.doc, w.new_version or 1)
        return {"Put": {"TableName": self.table, "Item": item, **cond}}

    def _try_roll_back(self, done: list[Write], uncertain: list[Write]) -> bool:
        """Roll back `done` and whatever of `uncertain` (a transaction whose outcome AWS did not
        tell: a timeout may hide a commit) is found written; False when that is not possible."""
        try:
            live = {w.pk: item for w in uncertain if (item := self.get(w.pk)) is not None}
            return not self._roll_back(done + assess(uncertain, live).done)
        except Exception:  # AWS still failing: the journal keeps the rest
            return False

    def _roll_back(self, done: list[Write]) -> list[str]:
        """Undo committed writes, each conditioned on the version we wrote; the pks someone else
        changed in the meantime (left as they are). AWS errors propagate."""
        refused = []
        for w in reversed(done):  # children before parents
            try:
                self._undo(w)
            except self.ddb.exceptions.ConditionalCheckFailedException:
                refused.append(w.pk)
        return sorted(refused)

    def _undo(self, w: Write) -> None:
        if w.expected_version is None:  # we created it: delete it again
            self.ddb.delete_item(
                TableName=self.table, Key={"pk": {"S": w.pk}}, **_expect(w.new_version)
            )
        elif w.doc is None:  # we deleted it: put it back
            self.ddb.put_item(
                TableName=self.table,
                Item=to_item(w.pk, w.kind, w.previous or {}, w.expected_version),
                **_expect(None),
            )
        else:  # we replaced it: restore the previous doc and version
            self.ddb.put_item(
                TableName=self.table,
                Item=to_item(w.pk, w.kind, w.previous or {}, w.expected_version),
                **_expect(w.new_version),
            )


def _expect(version: int | None) -> dict[str, Any]:
    """The condition that an item is at `version` (None: does not exist)."""
    if version is None:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    return {
        "ConditionExpression": "version = :v",
        "ExpressionAttributeValues": {":v": {"N": str(version)}},
    }


def chunks(writes: list[Write]) -> list[tuple[list[Write], dict[str, int | None]]]:
    """The writes in transactions: each with the domain checks its links need (a domain written
    in the same transaction needs none: its own write is conditioned) and room for the journal's
    heartbeat, within DynamoDB's 100 items."""
    out: list[tuple[list[Write], dict[str, int | None]]] = []
    chunk: list[Write] = []
    guards: dict[str, int | None] = {}
    for w in writes:
        written = {x.pk for x in chunk}
        extra = {}
        if w.guard and w.guard[0] not in written and w.guard[0] not in guards:
            extra = {w.guard[0]: w.guard[1]}
        full = len(chunk) + len(guards) + len(extra) + 1 > TRANSACTION_LIMIT - 1
        if chunk and (full or w.pk in guards):
            out.append((chunk, guards))
            chunk, guards = [], {}
            extra = {w.guard[0]: w.guard[1]} if w.guard else {}
        chunk.append(w)
        guards.update(extra)
    if chunk:
        out.append((chunk, guards))
    return out
