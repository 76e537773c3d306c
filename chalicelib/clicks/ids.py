"""Click ids: time-ordered, unique, 26 characters (ULID: 48-bit ms timestamp + 80 random bits,
Crockford base32). Sorting click ids as strings sorts them by time; ids minted in the same
millisecond by one process are strictly increasing.
"""

from __future__ import annotations

import re
import secrets
import threading
from datetime import UTC, datetime, timedelta

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {char: value for value, char in enumerate(_ALPHABET)}
CLICK_ID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RANDOM_BITS = 80
_MAX_RANDOM = (1 << _RANDOM_BITS) - 1


class ClickIdGenerator:
    """Monotonic within the process: a clock that stalls or steps back never reorders ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0

    def new(self, now: datetime | None = None) -> str:
        ms = _millis(now or datetime.now(UTC))
        with self._lock:
            if ms <= self._last_ms:
                ms, random = self._last_ms, self._last_random + 1
                if random > _MAX_RANDOM:  # 2^80 ids in one ms: borrow the next millisecond
                    ms, random = ms + 1, secrets.randbits(_RANDOM_BITS - 1)
            else:
                # One bit short of full, so that increments within the ms cannot overflow.
                random = secrets.randbits(_RANDOM_BITS - 1)
            self._last_ms, self._last_random = ms, random
        return encode(ms, random)


_GENERATOR = ClickIdGenerator()


def new_click_id(now: datetime | None = None) -> str:
    """A new click id stamped with ``now`` (default: the current time)."""
    return _GENERATOR.new(now)


# Every 10-bit value as its two characters: 13 lookups an id instead of 26 shifts and lookups.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def encode(ms: int, random: int) -> str:
    value = (ms << _RANDOM_BITS) | random
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in range(120, -10, -10)])


def is_click_id(value: object) -> bool:
    return isinstance(value, str) and CLICK_ID_RE.fullmatch(value) is not None


def click_id_time(click_id: str) -> datetime:
    """When the click happened (ms precision). Raises ValueError for something else."""
    if not is_click_id(click_id):
        raise ValueError(f"not a click id: {click_id!r}")
    value = 0
    for char in click_id[:10]:
        value = (value << 5) | _DECODE[char]
    return datetime.fromtimestamp(value / 1000, UTC)


def _millis(now: datetime) -> int:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return (now - _EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding
