"""Unique-visitor sketches: Apache DataSketches HyperLogLog, serialized compact.

One sketch per stats row; a window's unique visitors is the union of its rows' sketches. Stated
error: with ``LG_K`` = 12 (4,096 buckets) the relative standard error is about 1.6%; at three
standard deviations, which ``relative_error()`` returns, an estimate is within about ±5% of the
true count (a few thousand visitors or fewer are counted almost exactly: the sketch keeps them in
its list or set mode). The serialized form is DataSketches' own, readable from Java, C++, Druid.
"""

from __future__ import annotations

from collections.abc import Iterable

import datasketches as ds

LG_K = 12
_TYPE = ds.tgt_hll_type.HLL_4  # the smallest serialization; the type does not change estimates


def build(values: Iterable[str]) -> bytes:
    """A compact sketch of ``values`` (feed them in a fixed order: the bytes then never vary)."""
    sketch = ds.hll_sketch(LG_K, _TYPE)
    update = sketch.update
    for value in values:
        update(value)
    return bytes(sketch.serialize_compact())


def union(blobs: Iterable[bytes | None]) -> bytes | None:
    """The union of serialized sketches (None for none at all)."""
    merged = None
    for blob in blobs:
        if blob is None:
            continue
        if merged is None:
            merged = ds.hll_union(LG_K)
        merged.update(ds.hll_sketch.deserialize(blob))
    if merged is None:
        return None
    return bytes(merged.get_result(_TYPE).serialize_compact())


def estimate(blob: bytes | None) -> float:
    if blob is None:
        return 0.0
    return float(ds.hll_sketch.deserialize(blob).get_estimate())


def bounds(blob: bytes | None, std_devs: int = 3) -> tuple[float, float]:
    """The sketch's own confidence interval around its estimate (1 to 3 standard deviations)."""
    if blob is None:
        return 0.0, 0.0
    sketch = ds.hll_sketch.deserialize(blob)
    return float(sketch.get_lower_bound(std_devs)), float(sketch.get_upper_bound(std_devs))


def is_exact(blob: bytes | None) -> bool:
    """Whether the estimate is a count: the sketch's 3-sigma interval holds one integer (a sketch
    of a few hundred visitors or fewer keeps them in its list or set mode)."""
    low, high = bounds(blob, 3)
    return round(low) == round(high)


def relative_error(std_devs: int = 3, unioned: bool = True) -> float:
    """The a-priori relative error bound of an estimate (e.g. 0.05 for ±5%)."""
    return abs(float(ds.hll_sketch.get_rel_err(True, unioned, LG_K, std_devs)))
