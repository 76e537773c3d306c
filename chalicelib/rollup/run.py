"""The rollup run: which hours, in what order, and what each one does (see ``__init__``)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.observe.metrics import AUDIENCES_BELOW_MINIMUM, ROLLUP_LAG, Metrics
from chalicelib.rollup.aggregate import aggregate, counts
from chalicelib.rollup.audiences import Catalog
from chalicelib.rollup.compact import (
    CLICKS,
    CONVERSIONS,
    PARQUET_NAME,
    PARQUET_PREFIX,
    RAW_PREFIX,
    compact,
    connect,
)
from chalicelib.rollup.hours import (
    closed_hours,
    day_of,
    hour_key,
    hours_of_day,
    parse_hour,
    prefix,
)
from chalicelib.rollup.lake import Lake, LakeObject, file_etag
from chalicelib.rollup.metrics import Stats, day_period, hour_period, merge
from chalicelib.rollup.readiness import Check, advance
from chalicelib.rollup.report import audience_sizes
from chalicelib.rollup.store import Manifest, Store

log = logging.getLogger(__name__)

# Closed hours looked at again on every run: late data (the stream keeps records 24 hours) is
# noticed by itself; older late data needs `rebound rollup --hour`.
LOOKBACK_HOURS = 24
# Part of every hour's fingerprint: bump it when what an hour's rows hold changes, and the
# lookback hours are rolled up again by the next run.
ROLLUP_VERSION = "1"
OUTCOMES_PREFIX = "platform-events"
RAW_PREFIXES = (RAW_PREFIX[CLICKS], RAW_PREFIX[CONVERSIONS], OUTCOMES_PREFIX)
_LIST_WORKERS = 8

# Statuses of an hour in a run.
ROLLED = "rolled"
UNCHANGED = "unchanged"
EMPTY = "empty"  # nothing in the lake and never rolled up
FAILED = "failed"
DEFERRED = "deferred"  # out of time; the next run picks it up


@dataclass
class HourResult:
    hour: str
    status: str
    closed: bool
    compacted: bool = False
    clicks: int = 0
    conversions: int = 0
    platform_events: int = 0
    seconds: float = 0.0
    note: str = ""


@dataclass
class RunReport:
    hours: list[HourResult] = field(default_factory=list)
    days: list[str] = field(default_factory=list)

    def by_status(self, status: str) -> list[HourResult]:
        return [h for h in self.hours if h.status == status]

    def summary(self) -> dict[str, Any]:
        """What the scheduled function returns (and logs)."""
        return {
            "rolled": [h.hour for h in self.by_status(ROLLED)],
            "unchanged": len(self.by_status(UNCHANGED)),
            "failed": {h.hour: h.note for h in self.by_status(FAILED)},
            "deferred": [h.hour for h in self.by_status(DEFERRED)],
            "days": self.days,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"hours": [asdict(h) for h in self.hours], "days": self.days}

    def lag_seconds(self, now: datetime) -> float:
        """How far the stats are behind after this run: the time since they are complete up to,
        the start of the oldest closed hour it left behind (failed or deferred), or, none
        behind, the end of the last closed hour."""
        behind = [h.hour for h in self.hours if h.closed and h.status in (FAILED, DEFERRED)]
        since = parse_hour(min(behind) if behind else hour_key(now))
        return max(0.0, round((now - since).total_seconds(), 3))


class Rollup:
    """Rolls hours of ``lake`` up into ``store``; the audiences come from ``catalog``."""

    def __init__(
        self,
        lake: Lake,
        store: Store,
        catalog: Catalog | Callable[[], Catalog],
        *,
        workdir: Path | str | None = None,
        memory_limit: str | None = None,
        threads: int | None = None,
    ):
        self.lake = lake
        self.store = store
        self._catalog = catalog
        self.workdir = Path(workdir or tempfile.gettempdir())
        self.memory_limit = memory_limit
        self.threads = threads

    @classmethod
    def for_names(cls, names: Any, **options: Any) -> Rollup:
        """The deployed wiring for ``Names``: the lake bucket, the stats table, and the
        audiences from the links table (read when first needed)."""
        from chalicelib.aws.clients import client
        from chalicelib.rollup.lake import S3Lake
        from chalicelib.rollup.store import StatsStore

        dynamodb = client("dynamodb")
        return cls(
            S3Lake(client("s3"), names.lake_bucket_name()),
            StatsStore(dynamodb, names.stats_table),
            lambda: Catalog.from_table(dynamodb, names.links_table),
            **options,
        )

    def catalog(self) -> Catalog:
        if callable(self._catalog):
            self._catalog = self._catalog()
        return self._catalog

    def run(
        self,
        *,
        now: datetime | None = None,
        hours: Iterable[str] | None = None,
        force: bool = False,
        lookback: int = LOOKBACK_HOURS,
        deadline: float | None = None,
        progress: Callable[[HourResult], None] | None = None,
    ) -> RunReport:
        """Roll up ``hours`` (default: the open hour and the last ``lookback`` closed ones) where
        the lake changed since their last rollup, or all of them with ``force``. ``deadline`` is
        a ``time.monotonic()`` after which no new hour is started."""
        now = now or datetime.now(UTC)
        current = hour_key(now)
        if hours is None:
            candidates = [current, *closed_hours(now, lookback)]
        else:
            candidates = sorted({hour_key(parse_hour(h)) for h in hours}, reverse=True)
            future = [h for h in candidates if h > current]
            if future:
                raise ValueError(f"hour {future[0]} has not begun yet")
        listings = self._list(candidates)
        manifests = self.store.manifests(candidates)
        report = RunReport()
        # An hour's manifest says "done": it is written only once the hour's day rows are, so a
        # run that fails (or dies) in between leaves the hour to be rolled up again.
        due: dict[str, Manifest] = {}
        con = None
        workdir = Path(tempfile.mkdtemp(prefix="rollup-", dir=self.workdir))
        try:
            for hour in candidates:  # newest first: the freshest numbers matter most
                closed = hour < current
                listing = listings[hour]
                fingerprint = _fingerprint(listing, closed)
                previous = manifests.get(hour)
                if not force and previous is not None and previous.fingerprint == fingerprint:
                    result = HourResult(hour, UNCHANGED, closed, previous.compacted)
                elif not force and previous is None and not any(listing.values()):
                    result = HourResult(hour, EMPTY, closed)
                elif deadline is not None and time.monotonic() > deadline:
                    result = HourResult(hour, DEFERRED, closed)
                else:
                    if con is None:
                        con = connect(workdir, memory_limit=self.memory_limit, threads=self.threads)
                    started = time.monotonic()
                    try:
                        result = self._roll(
                            con, workdir, hour, closed, listing, fingerprint, previous, now, due
                        )
                    except Exception as exc:  # one bad hour must not stop the others
                        log.exception("rollup of %s failed", hour)
                        result = HourResult(
                            hour, FAILED, closed, note=f"{type(exc).__name__}: {exc}"
                        )
                    result.seconds = round(time.monotonic() - started, 3)
                report.hours.append(result)
                if progress is not None:
                    progress(result)
            days = sorted({day_of(h.hour) for h in report.by_status(ROLLED)})
            for day in days:
                self.roll_day(day)
                for hour in sorted(h for h in due if day_of(h) == day):
                    self.store.put_manifest(due.pop(hour))
            report.days = days
        finally:
            if con is not None:
                con.close()
            shutil.rmtree(workdir, ignore_errors=True)
        return report

    def check_readiness(self, now: datetime | None = None) -> Check:
        """Each configured audience against the minimum of every platform it is sent to, at
        ``now``; the state is kept in the stats table, so that an audience that was ready and
        fell below a minimum (its window moved on) is flagged until it is ready again."""
        now = now or datetime.now(UTC)
        catalog = self.catalog()
        ids = [a["id"] for a in catalog.audiences]
        sizes = {a: s["size"] for a, s in audience_sizes(self.store, catalog, ids, now).items()}
        check = advance(catalog.audiences, sizes, self.store.readiness())
        self.store.put_readiness(check.state)
        return check

    def roll_day(self, day: str) -> dict[str, Stats]:
        """The day's rows, merged from its hours' rows (sketches merged, no raw data read)."""
        by_hour = self.store.read([hour_period(h) for h in hours_of_day(day)])
        grouped: dict[str, list[Stats]] = {}
        for period in sorted(by_hour):
            for sk, row in by_hour[period].items():
                grouped.setdefault(sk, []).append(row)
        rows = {sk: merge(grouped[sk]) for sk in sorted(grouped)}
        self.store.replace(day_period(day), rows)
        return rows

    # ---------------------------------------------------------------------------------------

    def _list(self, hours: Sequence[str]) -> dict[str, dict[str, list[LakeObject]]]:
        jobs = [(h, p) for h in hours for p in RAW_PREFIXES]
        with ThreadPoolExecutor(max_workers=_LIST_WORKERS, thread_name_prefix="list") as pool:
            found = list(pool.map(lambda job: self.lake.list(prefix(job[1], job[0])), jobs))
        out: dict[str, dict[str, list[LakeObject]]] = {h: {} for h in hours}
        for (hour, table_prefix), objects in zip(jobs, found, strict=True):
            out[hour][table_prefix] = sorted(o for o in objects if o.key.endswith(".json.gz"))
        return out

    def _roll(
        self,
        con: Any,
        workdir: Path,
        hour: str,
        closed: bool,
        listing: dict[str, list[LakeObject]],
        fingerprint: str,
        previous: Manifest | None,
        now: datetime,
        due: dict[str, Manifest],
    ) -> HourResult:
        result = HourResult(hour, ROLLED, closed)
        notes = []
        scratch = workdir / hour
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            sources: dict[str, list[Path]] = {}
            for kind in (CLICKS, CONVERSIONS):
                raw = listing[RAW_PREFIX[kind]]
                compacted = self.lake.list(prefix(PARQUET_PREFIX[kind], hour))
                compacted = [o for o in compacted if o.key.endswith(".parquet")]
                lost = previous is not None and previous.lost(
                    RAW_PREFIX[kind], (o.key for o in raw)
                )
                if raw and not (lost and compacted):
                    files = self.lake.fetch([o.key for o in raw], scratch / "raw")
                    out = scratch / f"{kind}.parquet"
                    written = compact(con, kind, files, out)
                    sources[kind] = [out] if written else []
                    if closed:
                        self._publish(kind, hour, out if written else None, compacted)
                        result.compacted = True
                elif compacted:
                    # The raw JSON has expired (RawRetentionDays): the compacted copy is the data.
                    if lost:
                        notes.append(f"raw {kind} expired: read from Parquet")
                    sources[kind] = self.lake.fetch([o.key for o in compacted], scratch / "pq")
                    result.compacted = closed
                else:
                    sources[kind] = []
            outcome_files = self.lake.fetch(
                [o.key for o in listing[OUTCOMES_PREFIX]], scratch / "events"
            )
            rows = aggregate(
                con,
                self.catalog(),
                clicks=sources[CLICKS],
                conversions=sources[CONVERSIONS],
                outcomes=outcome_files,
            )
            n = counts(rows)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        result.clicks = n["clicks"]
        result.conversions = n["conversions"]
        result.platform_events = n["platform_events"]
        result.note = "; ".join(notes)
        self.store.replace(hour_period(hour), rows)
        due[hour] = Manifest(
            hour=hour,
            fingerprint=fingerprint,
            closed=closed,
            compacted=result.compacted,
            rolled_at=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            counts=n,
            sources={p: [o.key for o in listing[p]] for p in RAW_PREFIXES},
            source_counts={p: len(listing[p]) for p in RAW_PREFIXES},
        )
        return result

    def _publish(self, kind: str, hour: str, out: Path | None, existing: list[LakeObject]) -> None:
        """The hour's Parquet object becomes ``out`` (unless it already is, byte for byte);
        any other object under the hour's prefix goes."""
        key = prefix(PARQUET_PREFIX[kind], hour) + PARQUET_NAME
        if out is not None:
            same = [o for o in existing if o.key == key and o.etag == file_etag(out)]
            if not same:
                self.lake.put(key, out)
        stale = [o.key for o in existing if out is None or o.key != key]
        if stale:
            self.lake.delete(stale)


def _fingerprint(listing: dict[str, list[LakeObject]], closed: bool) -> str:
    digest = hashlib.sha256(f"v{ROLLUP_VERSION}\nclosed={closed}\n".encode())
    for table_prefix in RAW_PREFIXES:
        for obj in listing.get(table_prefix, ()):
            digest.update(f"{obj.key}\t{obj.etag}\n".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# The scheduled function


SAFETY_SECONDS = 60  # time left for the day rows and the last writes when the Lambda runs out


def scheduled(names: Any, context: Any = None, now: datetime | None = None) -> dict[str, Any]:
    """What the scheduled Lambda does: roll up the recent hours, then check the audiences'
    readiness and print the ``AudiencesBelowMinimum`` and ``RollupLagSeconds`` metrics (one EMF
    line); returns a summary for the log."""
    deadline = None
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        deadline = time.monotonic() + remaining() / 1000 - SAFETY_SECONDS
    rollup = Rollup.for_names(names, memory_limit=memory_limit())
    now = now or datetime.now(UTC)
    report = rollup.run(now=now, deadline=deadline)
    summary = report.summary()
    check = rollup.check_readiness(now)
    summary["below_minimum"] = check.below
    # One line on stdout: CloudWatch Logs reads it as Embedded Metric Format.
    metrics = Metrics(names.stage).add(AUDIENCES_BELOW_MINIMUM, len(check.below))
    metrics.add(ROLLUP_LAG, report.lag_seconds(now)).emit(now)
    # Lambda's root logger passes warnings and up only: one INFO line per run, by choice.
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    log.info("rollup: %s", summary)
    return summary


def memory_limit(env: Mapping[str, str] | None = None) -> str | None:
    """DuckDB's memory limit: ``REBOUND_ROLLUP_MEMORY``, else 60% of the Lambda's memory (the
    rest is Python, the sketches and the S3 buffers); unset outside Lambda (DuckDB's default)."""
    env = os.environ if env is None else env
    if env.get("REBOUND_ROLLUP_MEMORY"):
        return env["REBOUND_ROLLUP_MEMORY"]
    size = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    return f"{int(int(size) * 0.6)}MB" if size and size.isdigit() else None
