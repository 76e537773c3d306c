"""The apply journal: what an apply of several transactions is doing, so that an interrupted one
is seen, and finished or rolled back, by the next.

Pure: no AWS. `ConfigStore` (links/store.py) keeps the journal in the config table itself, beside
the items it protects: a head item ``apply#journal`` (the lock: plan id, where it came from, when
it started, its heartbeat, how many writes) and parts ``apply#<plan id>#<n>`` holding every write
with its before and after (zlib-compressed JSON, each part well under DynamoDB's 400 KB item
limit). Progress is not trusted from a counter: each write's state is read off the live item
(before, after, or changed by someone else), so a half-done rollback is assessed as correctly as a
half-done apply.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from chalicelib.links.record import dump_doc

JOURNAL_PREFIX = "apply#"
JOURNAL_KEY = "apply#journal"
# A lock whose heartbeat (every transaction) is older than this belongs to a process that died.
LOCK_TIMEOUT_SECONDS = 120.0
# Bytes of JSON per part before compression: a part stays far below the 400 KB item limit.
PART_BYTES = 300_000

RUNNING = "running"
INTERRUPTED = "interrupted"


def is_journal_key(pk: str) -> bool:
    return pk.startswith(JOURNAL_PREFIX)


def part_key(plan_id: str, n: int) -> str:
    return f"{JOURNAL_PREFIX}{plan_id}#{n}"


@dataclass(frozen=True)
class Write:
    """One item to create, replace or delete. `expected_version` None means "must not exist".

    `guard` is (pk, version) of the domain a link embeds: the link is written only while its
    domain is still at that version (None: while it does not exist), so a link never carries
    consent settings older than its domain's."""

    pk: str
    kind: str
    doc: dict[str, Any] | None  # None: delete
    expected_version: int | None
    previous: dict[str, Any] | None = None  # the live doc, to roll back an update or delete
    guard: tuple[str, int | None] | None = None

    @property
    def new_version(self) -> int | None:
        return None if self.doc is None else (self.expected_version or 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "pk": self.pk,
            "kind": self.kind,
            "doc": self.doc,
            "expected_version": self.expected_version,
            "previous": self.previous,
            "guard": list(self.guard) if self.guard else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Write:
        guard = data.get("guard")
        return cls(
            data["pk"],
            data["kind"],
            data["doc"],
            data["expected_version"],
            data.get("previous"),
            (guard[0], guard[1]) if guard else None,
        )


def encode_parts(writes: list[Write]) -> list[bytes]:
    """The writes, in order, as compressed parts of at most PART_BYTES of JSON each."""
    parts: list[bytes] = []
    batch: list[str] = []
    size = 0
    for w in writes:
        text = json.dumps(w.to_json(), sort_keys=True, ensure_ascii=False)
        if batch and size + len(text) > PART_BYTES:
            parts.append(_compress(batch))
            batch, size = [], 0
        batch.append(text)
        size += len(text)
    if batch:
        parts.append(_compress(batch))
    return parts


def decode_parts(parts: list[bytes]) -> list[Write]:
    return [Write.from_json(d) for part in parts for d in json.loads(zlib.decompress(part))]


def _compress(batch: list[str]) -> bytes:
    return zlib.compress(("[" + ",".join(batch) + "]").encode("utf-8"))


@dataclass(frozen=True)
class Journal:
    """The head of an apply's journal, with its writes (None when its parts are incomplete: it
    died while writing them, before any transaction, so there is nothing to finish)."""

    plan_id: str
    owner: str  # a token per process: who holds the lock
    source: str  # what a person recognises: the file and who applied it
    state: str  # running | interrupted
    started_at: float
    updated_at: float  # the heartbeat: bumped by every transaction
    total: int
    parts: int
    version: int
    writes: list[Write] | None = field(default=None, compare=False)

    @property
    def interrupted(self) -> bool:
        return self.state == INTERRUPTED

    def stale(self, now: float) -> bool:
        """Nobody is working on it any more: interrupted, or its holder stopped beating."""
        return self.interrupted or now - self.updated_at > LOCK_TIMEOUT_SECONDS

    def progress(self, live: dict[str, Any]) -> Progress:
        return assess(self.writes or [], live)


@dataclass(frozen=True)
class Progress:
    """Each of a journal's writes, by the state of its live item."""

    done: list[Write]
    todo: list[Write]
    changed: list[Write]  # neither before nor after: someone else changed it since

    @property
    def total(self) -> int:
        return len(self.done) + len(self.todo) + len(self.changed)

    @property
    def finishable(self) -> bool:
        return not self.changed

    def projected(self, live: dict[str, Any]) -> dict[str, Any]:
        """The live items as the next apply leaves them: finished when it can be, else rolled
        back (what it wrote restored, what others changed left as they are)."""
        from chalicelib.links.store import LiveItem

        out = dict(live)
        if self.finishable:
            for w in self.todo:
                if w.doc is None:
                    out.pop(w.pk, None)
                else:
                    out[w.pk] = LiveItem(w.pk, w.kind, w.doc, w.new_version or 1)
        else:
            for w in self.done:
                if w.expected_version is None:
                    out.pop(w.pk, None)
                else:
                    out[w.pk] = LiveItem(w.pk, w.kind, w.previous or {}, w.expected_version)
        return out


def assess(writes: list[Write], live: dict[str, Any]) -> Progress:
    done, todo, changed = [], [], []
    for w in writes:
        item = live.get(w.pk)
        if _is_after(w, item):
            done.append(w)
        elif _is_before(w, item):
            todo.append(w)
        else:
            changed.append(w)
    return Progress(done, todo, changed)


def _same(item: Any, doc: dict[str, Any] | None, version: int | None) -> bool:
    return item.version == version and dump_doc(item.doc) == dump_doc(doc or {})


def _is_after(w: Write, item: Any) -> bool:
    if w.doc is None:
        return item is None
    return item is not None and _same(item, w.doc, w.new_version)


def _is_before(w: Write, item: Any) -> bool:
    if w.expected_version is None:
        return item is None
    return item is not None and _same(item, w.previous, w.expected_version)
