"""The fault matrix as a table: ``python -m tests.faults.matrix [path ...]`` prints it (Markdown)
for docs/operations.md ("Failure behaviour, tested"); `make faults` runs it as tests."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

from tests.faults.engine import BROKEN, HOLDS, NOT_REACHED, Cell, Discovery, run_matrix
from tests.faults.injector import FAULTS
from tests.faults.paths import PATHS, Path, by_name
from tests.faults.world import World, aws_world

COLUMNS = {
    "throttle": "throttle / 429",
    "timeout": "timeout",
    "500": "500",
    "crash": "crash after success",
}

_prepared: set[int] = set()


def prepare(world: World) -> None:
    """Every path's set-up, then one snapshot for all of them (once per world)."""
    if id(world) not in _prepared:
        for p in PATHS:
            p.prepare(world)
        world.take_snapshot()
        _prepared.add(id(world))


def run_path(world: World, path: Path) -> tuple[Discovery, list[Cell]]:
    prepare(world)
    return run_matrix(world, path)


def run_paths(names: list[str]) -> dict[str, tuple[Discovery, list[Cell]]]:
    """The matrices of these paths, in one world."""
    with aws_world() as world:
        return {name: run_path(world, by_name(name)) for name in names}


# Rough seconds per path on one core: the split between the worker processes.
COST = {
    "rollup": 60,
    "apply": 35,
    "dispatcher": 30,
    "postback": 15,
    "redirect": 10,
    "redirect-after-response": 10,
    "archiver": 6,
}


def run_parallel(names: list[str], workers: int = 2) -> dict[str, tuple[Discovery, list[Cell]]]:
    """The paths split over ``workers`` processes (each builds its own world: ~10 s)."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(workers, len(names))))]
    for name in sorted(names, key=lambda n: -COST.get(n, 1)):
        min(groups, key=lambda g: sum(COST.get(n, 1) for n in g)).append(name)
    if len(groups) == 1:
        return run_paths(groups[0])
    with ProcessPoolExecutor(len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
        results: dict[str, tuple[Discovery, list[Cell]]] = {}
        for part in pool.map(run_paths, groups):
            results.update(part)
    return {name: results[name] for name in names}


def row_label(cell: Cell) -> str:
    arm = cell.arm
    assert arm is not None
    k = f" (call {arm.k})" if arm.k > 1 else ""
    parent = ""
    if len(cell.arms) > 1:
        first = cell.arms[0]
        parent = f" — after {first.fault} at {first.site.operation}"
    return f"{arm.site.service} {arm.site.operation} `{arm.site.frame}`{k}{parent}"


def table(path: str, cells: Iterable[Cell]) -> list[str]:
    rows: dict[str, dict[str, Cell]] = {}
    for cell in cells:
        assert cell.arm is not None
        rows.setdefault(row_label(cell), {})[cell.arm.fault] = cell
    lines = [
        f"| {path}: call site | " + " | ".join(COLUMNS[f] for f in FAULTS) + " |",
        "|---|" + "---|" * len(FAULTS),
    ]
    for label, by_fault in rows.items():
        texts = []
        for fault in FAULTS:
            cell = by_fault.get(fault)
            if cell is None:
                texts.append("")
                continue
            mark = "HOLDS" if cell.verdict == HOLDS else f"**{cell.verdict}**"
            text = f"{mark}: {cell.outcome}"
            if cell.problems:
                text += " — " + "; ".join(cell.problems)
            texts.append(text.replace("|", "/"))
        lines.append(f"| {label} | " + " | ".join(texts) + " |")
    return lines


def failures(cells: Iterable[Cell]) -> list[str]:
    """Cells that do not hold. A fault armed at a later call that never came is not one: calls
    made by concurrent threads (a first use racing to fill a cache) vary in number."""
    return [
        f"{c.verdict}: {c.label()}: {c.outcome} — {'; '.join(c.problems) or 'fault never fired'}"
        for c in cells
        if c.verdict == BROKEN or (c.verdict == NOT_REACHED and c.arm and c.arm.k == 1)
    ]


def main(argv: list[str]) -> int:
    names = argv or [p.name for p in PATHS]
    started = time.monotonic()
    results = run_parallel(names, workers=int(os.environ.get("REBOUND_FAULT_WORKERS", "2")))
    out: list[str] = []
    cells_total = broken = 0
    for name in names:
        _found, cells = results[name]
        out += [f"**{name}** — {by_name(name).promise}.", ""]
        out += [*table(name, cells), ""]
        cells_total += len(cells)
        broken += len(failures(cells))
    print("\n".join(out))
    print(
        f"{len(names)} paths, {cells_total} cells, {broken} not holding, "
        f"{time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
