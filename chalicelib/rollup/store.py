"""The stats table (``rebound-<stage>-stats``, pk + sk): rows per period, and the rollup's own
record of what it rolled up.

- ``pk`` = a period (``h#2026-11-23T12``, ``d#2026-11-23``), ``sk`` = a dimension
  (``metrics.sort_key``): writing an hour again is one Query for what the hour had, puts for
  every row and deletes for the rows it no longer has, so re-running replaces and never adds;
  a report reads a day with one Query, one link over 30 days with one BatchGetItem.
- ``pk`` = ``rollup``, ``sk`` = ``h#<hour>``: the hour's manifest (the fingerprint of the raw
  objects it was rolled up from, when, and what it counted), so that an unchanged hour is not
  rolled up again and late data is noticed.
- ``pk`` = ``readiness``, ``sk`` = ``<audience>#<destination>``: each audience's readiness for
  each platform it is sent to at the last scheduled check (ready, fell below, size, minimum), so
  the next check knows what "was ready" and ``rebound stats`` can flag an audience that fell below
  its minimum (``readiness.py``). Its own ``pk``: under ``rollup`` it would sort after the
  manifests and be taken for the latest one.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.aws.calls import backoff, batch_write
from chalicelib.rollup.metrics import Stats, from_item, to_item

log = logging.getLogger(__name__)

MANIFEST_PK = "rollup"
READINESS_PK = "readiness"
WRITE_BATCH = 25  # BatchWriteItem's limit
READ_BATCH = 100  # BatchGetItem's limit
ATTEMPTS = 8
MAX_SOURCE_LIST = 300_000  # bytes of gzip'd key list kept in a manifest (items max 400 KB)


@dataclass
class Manifest:
    hour: str
    fingerprint: str
    closed: bool
    compacted: bool
    rolled_at: str
    counts: dict[str, int] = field(default_factory=dict)
    sources: dict[str, list[str]] | None = None  # raw prefix -> keys; None when too many to keep
    source_counts: dict[str, int] = field(default_factory=dict)

    def lost(self, table_prefix: str, keys: Iterable[str]) -> bool:
        """Whether raw objects this hour was rolled up from have gone since (expired)."""
        keys = set(keys)
        if self.sources is not None:
            return not set(self.sources.get(table_prefix, ())) <= keys
        return len(keys) < self.source_counts.get(table_prefix, 0)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": MANIFEST_PK},
            "sk": {"S": f"h#{self.hour}"},
            "fingerprint": {"S": self.fingerprint},
            "closed": {"BOOL": self.closed},
            "compacted": {"BOOL": self.compacted},
            "rolled_at": {"S": self.rolled_at},
            "counts": {"M": {k: {"N": str(v)} for k, v in sorted(self.counts.items())}},
            "source_counts": {
                "M": {k: {"N": str(v)} for k, v in sorted(self.source_counts.items())}
            },
        }
        if self.sources is not None:
            text = "\n".join(
                f"{prefix}\t{key}" for prefix, keys in sorted(self.sources.items()) for key in keys
            )
            blob = gzip.compress(text.encode(), mtime=0)
            if len(blob) <= MAX_SOURCE_LIST:
                item["sources"] = {"B": blob}
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Manifest:
        sources: dict[str, list[str]] | None = None
        if "sources" in item:
            sources = {}
            text = gzip.decompress(bytes(item["sources"]["B"])).decode()
            for line in filter(None, text.split("\n")):
                prefix, _, key = line.partition("\t")
                sources.setdefault(prefix, []).append(key)
        return cls(
            hour=item["sk"]["S"][2:],
            fingerprint=item["fingerprint"]["S"],
            closed=item["closed"]["BOOL"],
            compacted=item["compacted"]["BOOL"],
            rolled_at=item["rolled_at"]["S"],
            counts={k: int(v["N"]) for k, v in item.get("counts", {}).get("M", {}).items()},
            sources=sources,
            source_counts={
                k: int(v["N"]) for k, v in item.get("source_counts", {}).get("M", {}).items()
            },
        )


class Store(Protocol):
    """What the rollup and ``rebound stats`` need of the stats table."""

    def replace(self, period: str, rows: Mapping[str, Stats]) -> None: ...

    def read(self, periods: Iterable[str], sks: Iterable[str] | None = None) -> dict: ...

    def manifests(self, hours: Iterable[str]) -> dict[str, Manifest]: ...

    def latest_manifest(self) -> Manifest | None: ...

    def put_manifest(self, manifest: Manifest) -> None: ...

    def readiness(self) -> dict[tuple[str, str], dict[str, Any]]: ...

    def put_readiness(self, state: Mapping[tuple[str, str], Mapping[str, Any]]) -> None: ...


class StatsStore:
    """The stats table through a low-level boto3 DynamoDB client."""

    def __init__(self, dynamodb: Any, table: str, sleep: Callable[[float], None] = time.sleep):
        self.ddb = dynamodb
        self.table = table
        self.sleep = sleep

    # --- rows ----------------------------------------------------------------------------------

    def replace(self, period: str, rows: Mapping[str, Stats]) -> None:
        """Make ``period``'s rows exactly ``rows``: puts for each, deletes for any other."""
        before = {item["sk"]["S"] for item in self._query(period, projection="sk")}
        requests = [{"PutRequest": {"Item": to_item(period, sk, row)}} for sk, row in rows.items()]
        requests += [
            {"DeleteRequest": {"Key": {"pk": {"S": period}, "sk": {"S": sk}}}}
            for sk in sorted(before - set(rows))
        ]
        for start in range(0, len(requests), WRITE_BATCH):
            self._write(requests[start : start + WRITE_BATCH])

    def read(
        self, periods: Iterable[str], sks: Iterable[str] | None = None
    ) -> dict[str, dict[str, Stats]]:
        """period → sk → row: whole periods (one Query each) or only ``sks`` (BatchGetItem)."""
        periods = list(periods)
        out: dict[str, dict[str, Stats]] = {p: {} for p in periods}
        if sks is None:
            for period in periods:
                for item in self._query(period):
                    _, sk, row = from_item(item)
                    out[period][sk] = row
            return out
        keys = [{"pk": {"S": p}, "sk": {"S": sk}} for p in periods for sk in sorted(set(sks))]
        for item in self._get(keys):
            period, sk, row = from_item(item)
            out[period][sk] = row
        return {p: dict(sorted(rows.items())) for p, rows in out.items()}

    # --- manifests -----------------------------------------------------------------------------

    def manifests(self, hours: Iterable[str]) -> dict[str, Manifest]:
        hours = sorted(set(hours))
        if not hours:
            return {}
        items = self._query(
            MANIFEST_PK, between=(f"h#{hours[0]}", f"h#{hours[-1]}"), consistent=True
        )
        wanted = set(hours)
        found = (Manifest.from_item(i) for i in items)
        return {m.hour: m for m in found if m.hour in wanted}

    def latest_manifest(self) -> Manifest | None:
        page = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": MANIFEST_PK}},
            ScanIndexForward=False,
            Limit=1,
        )
        items = page.get("Items") or []
        return Manifest.from_item(items[0]) if items else None

    def put_manifest(self, manifest: Manifest) -> None:
        self.ddb.put_item(TableName=self.table, Item=manifest.to_item())

    # --- readiness -----------------------------------------------------------------------------

    def readiness(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The last check's state: (audience, destination) -> ready, fell_below, size, minimum."""
        return dict(readiness_from_item(i) for i in self._query(READINESS_PK, consistent=True))

    def put_readiness(self, state: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        """Make the readiness state exactly ``state`` (pairs no longer configured are deleted)."""
        before = {i["sk"]["S"] for i in self._query(READINESS_PK, projection="sk")}
        items = [readiness_item(key, value) for key, value in sorted(state.items())]
        requests = [{"PutRequest": {"Item": item}} for item in items]
        requests += [
            {"DeleteRequest": {"Key": {"pk": {"S": READINESS_PK}, "sk": {"S": sk}}}}
            for sk in sorted(before - {i["sk"]["S"] for i in items})
        ]
        for start in range(0, len(requests), WRITE_BATCH):
            self._write(requests[start : start + WRITE_BATCH])

    # --- DynamoDB --------------------------------------------------------------------------------

    def _query(
        self,
        pk: str,
        *,
        projection: str | None = None,
        between: tuple[str, str] | None = None,
        consistent: bool = False,
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": consistent,
        }
        if between is not None:
            kwargs["KeyConditionExpression"] += " AND sk BETWEEN :lo AND :hi"
            kwargs["ExpressionAttributeValues"].update(
                {":lo": {"S": between[0]}, ":hi": {"S": between[1]}}
            )
        if projection is not None:
            kwargs["ProjectionExpression"] = projection
        items: list[dict[str, Any]] = []
        while True:
            page = self.ddb.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _write(self, requests: list[dict[str, Any]]) -> None:
        left = batch_write(
            self.ddb, self.table, requests, attempts=ATTEMPTS, sleep=self.sleep, cap=2.0
        )
        if left:
            raise RuntimeError(f"{self.table}: {len(left)} writes still unprocessed")

    def _get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), READ_BATCH):
            pending: list[dict[str, Any]] = keys[start : start + READ_BATCH]
            for attempt in range(ATTEMPTS):
                response = self.ddb.batch_get_item(RequestItems={self.table: {"Keys": pending}})
                items.extend((response.get("Responses") or {}).get(self.table, []))
                pending = (
                    ((response.get("UnprocessedKeys") or {}).get(self.table) or {}).get("Keys")
                ) or []
                if not pending:
                    break
                self._backoff(attempt)
            else:
                raise RuntimeError(f"{self.table}: {len(pending)} reads still unprocessed")
        return items

    def _backoff(self, attempt: int) -> None:
        self.sleep(backoff(attempt, cap=2.0))


class MemoryStore:
    """The same contract in memory, item for item (benchmarks; tests of the pure parts)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def replace(self, period: str, rows: Mapping[str, Stats]) -> None:
        for key in [k for k in self.items if k[0] == period and k[1] not in rows]:
            del self.items[key]
        for sk, row in rows.items():
            self.items[(period, sk)] = to_item(period, sk, row)

    def read(
        self, periods: Iterable[str], sks: Iterable[str] | None = None
    ) -> dict[str, dict[str, Stats]]:
        wanted = None if sks is None else set(sks)
        out: dict[str, dict[str, Stats]] = {}
        for period in periods:
            out[period] = {
                sk: from_item(item)[2]
                for (p, sk), item in sorted(self.items.items())
                if p == period and (wanted is None or sk in wanted)
            }
        return out

    def manifests(self, hours: Iterable[str]) -> dict[str, Manifest]:
        return {
            h: Manifest.from_item(self.items[(MANIFEST_PK, f"h#{h}")])
            for h in hours
            if (MANIFEST_PK, f"h#{h}") in self.items
        }

    def latest_manifest(self) -> Manifest | None:
        keys = sorted(k for k in self.items if k[0] == MANIFEST_PK)
        return Manifest.from_item(self.items[keys[-1]]) if keys else None

    def put_manifest(self, manifest: Manifest) -> None:
        self.items[(MANIFEST_PK, f"h#{manifest.hour}")] = manifest.to_item()

    def readiness(self) -> dict[tuple[str, str], dict[str, Any]]:
        return dict(
            readiness_from_item(item)
            for (pk, _), item in sorted(self.items.items())
            if pk == READINESS_PK
        )

    def put_readiness(self, state: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        for key in [k for k in self.items if k[0] == READINESS_PK]:
            del self.items[key]
        for key, value in state.items():
            item = readiness_item(key, value)
            self.items[(READINESS_PK, item["sk"]["S"])] = item


def readiness_item(key: tuple[str, str], value: Mapping[str, Any]) -> dict[str, Any]:
    audience, destination = key
    return {
        "pk": {"S": READINESS_PK},
        "sk": {"S": f"{audience}#{destination}"},
        "ready": {"BOOL": bool(value["ready"])},
        "fell_below": {"BOOL": bool(value["fell_below"])},
        "size": {"N": str(int(value["size"]))},
        "minimum": {"N": str(int(value["minimum"]))},
    }


def readiness_from_item(item: Mapping[str, Any]) -> tuple[tuple[str, str], dict[str, Any]]:
    audience, _, destination = item["sk"]["S"].rpartition("#")
    return (audience, destination), {
        "ready": item["ready"]["BOOL"],
        "fell_below": item["fell_below"]["BOOL"],
        "size": int(item["size"]["N"]),
        "minimum": int(item["minimum"]["N"]),
    }
