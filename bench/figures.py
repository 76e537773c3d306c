"""What a benchmark reports: figures, each with the baseline measured in the same run, a ratio,
and (for some) a budget that passes or fails.

Machines are shared and noisy, so no figure stands alone: the ratio to a baseline taken in the
same run, alternating with the subject, is what is compared across machines and over time.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Budget:
    """A limit on a figure's ratio to its baseline (``on="ratio"``) or on its value itself."""

    limit: float
    on: Literal["ratio", "value"] = "ratio"
    op: Literal["<=", "==", ">="] = "<="

    def holds(self, value: float, ratio: float | None) -> bool:
        x = ratio if self.on == "ratio" else value
        if x is None or math.isnan(x):
            return False
        if self.op == "<=":
            return x <= self.limit
        if self.op == ">=":
            return x >= self.limit
        return x == self.limit

    def describe(self, unit: str) -> str:
        sign = {"<=": "≤", ">=": "≥", "==": "="}[self.op]
        if self.on == "ratio":
            return f"{sign} {self.limit:g}×"
        return f"{sign} {self.limit:g} {unit}".rstrip()


@dataclass
class Figure:
    """One measured number, its baseline (same run, same unit) and what it must stay within."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str | None = None
    budget: Budget | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def passed(self) -> bool | None:
        """True/False against the budget; None when the figure has no budget."""
        if self.budget is None:
            return None
        return self.budget.holds(self.value, self.ratio)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _round(self.value),
            "unit": self.unit,
            "baseline": _round(self.baseline),
            "baseline_name": self.baseline_name,
            "ratio": _round(self.ratio, 3),
            "budget": (
                {**asdict(self.budget), "text": self.budget.describe(self.unit)}
                if self.budget
                else None
            ),
            "passed": self.passed,
            "note": self.note,
        }


@dataclass
class Result:
    """What one benchmark returns: its figures, the sizes it ran with, and notes for the reader."""

    benchmark: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Figure]:
        return [f for f in self.figures if f.passed is False]

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "title": self.title,
            "params": self.params,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
            "figures": [f.to_dict() for f in self.figures],
        }


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None:
        return None
    if x == 0 or not math.isfinite(x):
        return x
    # Four significant digits: enough for a noisy measurement, readable in JSON.
    return round(x, max(0, digits - 1 - math.floor(math.log10(abs(x)))))


# --- statistics ---------------------------------------------------------------------------------


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def percentile(xs: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    if not xs:
        raise ValueError("no samples")
    ordered = sorted(xs)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
