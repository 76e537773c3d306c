"""Timing subject and baseline in alternating blocks, so that drift on a noisy machine (another
job starting, the CPU clocking down) falls on both alike."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def alternate(
    subject: Callable[[], object],
    baseline: Callable[[], object],
    *,
    n: int,
    block: int,
    warmup: int,
    before_subject: Callable[[], object] | None = None,
    before_baseline: Callable[[], object] | None = None,
) -> tuple[list[float], list[float]]:
    """Microseconds per call of each, ``n`` calls apiece, in blocks of ``block`` ordered ABBA.

    ``before_*`` runs before every call, outside the timed part (e.g. to empty a cache).
    """
    sides = [
        (subject, before_subject, []),
        (baseline, before_baseline, []),
    ]
    for fn, before, _ in sides:  # warm both: imports, clients, connections, caches
        for _ in range(warmup):
            if before:
                before()
            fn()
    gc.collect()
    done = 0
    flip = False
    while done < n:
        k = min(block, n - done)
        for fn, before, out in reversed(sides) if flip else sides:
            for _ in range(k):
                if before:
                    before()
                t0 = time.perf_counter_ns()
                fn()
                out.append((time.perf_counter_ns() - t0) / 1000)
        done += k
        flip = not flip
    return sides[0][2], sides[1][2]
