"""The fault matrix: discover a path's call sites, inject each fault at each site, replay the
input as Lambda, the merchant or the marketer would, and check the promises.

A path (``tests/faults/paths.py``) says how to start a cell (a fresh input), how to invoke the
code once, when it is done (the invocation reported success: nothing left to replay), and what
must hold afterwards. The engine owns the rest: the world is restored before each cell, a
``ProcessDied`` is caught at the path boundary (the invocation failed, whatever it returned),
the next attempt runs in a new execution environment, and the clock moves past any lease.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tests.faults.injector import FAULTS, Arm, ProcessDied, Site
from tests.faults.world import World

MAX_REPLAYS = 5
LEASE_STEP = timedelta(minutes=10)  # past the dispatcher's 5-minute claim lease

HOLDS, BROKEN, NOT_REACHED = "HOLDS", "BROKEN", "NOT REACHED"


@dataclass
class Attempt:
    ok: bool  # the path reported success: nothing to replay
    summary: str  # "302", "503", "2 batch item failures", "died"
    died: bool = False


@dataclass
class Cell:
    path: str
    arms: tuple[Arm, ...]  # the parent fault first for a site reached only under a fault
    fired: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    outcome: str = ""
    problems: list[str] = field(default_factory=list)
    seen: dict[Site, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def arm(self) -> Arm | None:
        return self.arms[-1] if self.arms else None

    @property
    def verdict(self) -> str:
        if self.arms and not self.fired:
            return NOT_REACHED
        return BROKEN if self.problems else HOLDS

    def label(self) -> str:
        arm = self.arm
        if arm is None:
            return f"{self.path}: no fault"
        parent = (
            f" (under {self.arms[0].fault} at {self.arms[0].site})" if len(self.arms) > 1 else ""
        )
        k = f" call #{arm.k}" if arm.k > 1 else ""
        return f"{self.path}: {arm.fault} at {arm.site}{k}{parent}"


class Logs(logging.Handler):
    """Warnings and errors the code logged during a cell (the last place a click can go)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        out = []
        for r in self.records:
            try:
                out.append(r.getMessage())
            except Exception:
                out.append(str(r.msg))
        return out


@contextmanager
def captured_logs() -> Iterator[Logs]:
    handler = Logs()
    loggers = [logging.getLogger(n) for n in ("chalicelib", "rebound", "app")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.level == logging.NOTSET or lg.level > logging.WARNING:
            lg.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


class Path:
    """One entry point of the system. Subclasses fill in the four methods."""

    name = ""
    promise = ""  # one line for the docs

    def prepare(self, world: World) -> None:
        """Once, before the world's snapshot: what every cell of this path needs."""

    def start(self, world: World, cell: Cell) -> Any:
        """A fresh input for one cell (after ``world.restore()``); returns the cell's state."""
        raise NotImplementedError

    def invoke(self, world: World, state: Any, attempt: int) -> Attempt:
        """One invocation (the first, or a replay of what is left)."""
        raise NotImplementedError

    def died(self, world: World, state: Any) -> None:
        """The invocation died: decide what the next one replays (default: all of it)."""

    def check(self, world: World, state: Any, cell: Cell) -> tuple[str, list[str]]:
        """(what happened, in a few words; the promises that did not hold)."""
        raise NotImplementedError


def run_cell(world: World, path: Path, arms: tuple[Arm, ...] = ()) -> Cell:
    started = time.monotonic()
    cell = Cell(path.name, arms)
    world.restore()
    injector = world.injector
    state = path.start(world, cell)
    injector.arm(list(arms))
    with captured_logs() as logs:
        state_logs = logs
        if hasattr(state, "logs"):
            state.logs = state_logs
        with injector.active(path.name):
            for attempt in range(1 + MAX_REPLAYS):
                try:
                    result = path.invoke(world, state, attempt)
                    if injector.dead:  # it returned, but the process had died on the way
                        result = Attempt(False, "died", died=True)
                except ProcessDied:
                    result = Attempt(False, "died", died=True)
                cell.attempts.append(result)
                if result.died:
                    injector.revive()
                    world.new_container()
                    path.died(world, state)
                if result.ok:
                    break
                world.clock.advance(LEASE_STEP)
        cell.fired = injector.all_fired()
        cell.seen = dict(injector.calls)
        injector.arm([])
        cell.outcome, cell.problems = path.check(world, state, cell)
    cell.seconds = time.monotonic() - started
    return cell


@dataclass
class Discovery:
    path: str
    baseline: Cell
    sites: list[Site]  # in first-call order
    counts: dict[Site, int]


def discover(world: World, path: Path) -> Discovery:
    """Run the path once with no fault: its call sites, and how often each is called."""
    baseline = run_cell(world, path)
    sites = [s for s in world.injector.order if s.path == path.name and s in baseline.seen]
    return Discovery(path.name, baseline, sites, dict(baseline.seen))


def arms_for(site: Site, calls: int) -> list[tuple[str, int]]:
    """(fault, k) for a site: every fault at its first call, and at its last when it has several."""
    ks = [1, calls] if calls > 1 else [1]
    return [(fault, k) for fault in FAULTS for k in ks]


def run_matrix(world: World, path: Path) -> tuple[Discovery, list[Cell]]:
    """Every fault at every discovered site; then each site first reached only under a fault
    (a fallback, a rollback, a duplicate check) gets every fault too, under that first fault."""
    found = discover(world, path)
    cells: list[Cell] = []
    known = set(found.sites)
    reached_under: dict[Site, Arm] = {}
    for site in found.sites:
        for fault, k in arms_for(site, found.counts[site]):
            cell = run_cell(world, path, (Arm(site, fault, k),))
            cells.append(cell)
            for new in cell.seen:
                if new not in known and new not in reached_under:
                    reached_under[new] = cell.arms[0]
    for site, parent in reached_under.items():
        for fault in FAULTS:
            cells.append(run_cell(world, path, (parent, Arm(site, fault, 1))))
    return found, cells
