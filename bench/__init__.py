"""Rebound's benchmarks: ``python -m bench`` (``make bench``) runs them all.

Every figure is compared with a baseline measured in the same run and reported as a ratio, since
machines are shared and noisy; some have a budget (DESIGN.md §1 and issue 9) that passes or fails.
One module per benchmark, each with ``NAME``, ``TITLE``, ``PARAMS`` (sizes for ``full``,
``quick`` and ``tiny``, the smoke test's) and ``run(**params) -> figures.Result``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# In the order they run: fast and in-process first, the load test on the local stack last.
MODULES = (
    "redirect",
    "after_response",
    "aws_calls",
    "cold_start",
    "memory",
    "archiver",
    "dispatcher",
    "conversions",
    "rollup",
    "local_stack",
)


def benchmarks() -> list[ModuleType]:
    return [importlib.import_module(f"bench.{m}") for m in MODULES]
