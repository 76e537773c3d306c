"""Hours and days as the lake and the stats table name them (UTC): pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.lake.schema import hour_prefix

HOUR = timedelta(hours=1)
HOUR_FORMAT = "%Y-%m-%dT%H"  # an hour key: 2026-11-23T12
DAY_FORMAT = "%Y-%m-%d"


def hour_key(when: datetime) -> str:
    """The key of the hour ``when`` falls in."""
    return _utc(when).strftime(HOUR_FORMAT)


def parse_hour(text: str) -> datetime:
    """``YYYY-MM-DDTHH`` (UTC) → the hour's start; ValueError with a readable message."""
    try:
        start = datetime.strptime(text.strip(), HOUR_FORMAT)
    except ValueError:
        raise ValueError(f"not an hour: {text!r} (expected YYYY-MM-DDTHH, UTC)") from None
    return start.replace(tzinfo=UTC)


def partition(key: str) -> tuple[str, str]:
    """``2026-11-23T12`` → ``("2026-11-23", "12")``, the lake's dt and hour."""
    return key[:10], key[11:13]


def prefix(table_prefix: str, key: str) -> str:
    """The lake prefix of one hour of a table: ``clicks/dt=2026-11-23/hour=12/``."""
    return hour_prefix(table_prefix, *partition(key))


def day_of(key: str) -> str:
    return key[:10]


def hours_of_day(day: str) -> list[str]:
    return [f"{day}T{h:02d}" for h in range(24)]


def closed_hours(now: datetime, count: int) -> list[str]:
    """The ``count`` most recent hours that have ended by ``now``, newest first."""
    current = _utc(now).replace(minute=0, second=0, microsecond=0)
    return [hour_key(current - HOUR * i) for i in range(1, count + 1)]


def days_back(now: datetime, count: int) -> list[str]:
    """The last ``count`` days up to and including today, oldest first."""
    today = _utc(now).date()
    return [(today - timedelta(days=i)).strftime(DAY_FORMAT) for i in reversed(range(count))]


def hours_back(now: datetime, count: int) -> list[str]:
    """The last ``count`` hours up to and including the current one, oldest first."""
    current = _utc(now).replace(minute=0, second=0, microsecond=0)
    return [hour_key(current - HOUR * i) for i in reversed(range(count))]


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
