"""``python -m bench [--quick] [--only NAME ...] [--out FILE] [--strict]``

Runs the benchmarks, prints a table (figure, baseline, ratio, budget) and writes
bench/results.json (a full run of all of them: the reference kept in git) or
build/bench-partial.json (``--only`` or ``--quick``), unless ``--out`` says where. Exit status: 0; 1 when a benchmark could not run (or, with ``--strict``, a
budget failed); 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench import benchmarks
from bench.figures import Figure, Result

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"
PARTIAL_OUT = PROJECT / "build" / "bench-partial.json"  # a run of some: not the reference
PACKAGES = (
    "boto3",
    "botocore",
    "chalice",
    "moto",
    "ua-parser",
    "ua-parser-rs",
    "crawler-user-agents",
    "pyahocorasick",
    "duckdb",
)


def main(argv: list[str] | None = None) -> int:
    mods = benchmarks()
    names = [m.NAME for m in mods]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[2])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(names)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="results file (JSON); default bench/results.json, the reference run kept in git, for "
        "a full run of all of them, else build/bench-partial.json",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a budget fails")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = PARTIAL_OUT if args.only or args.quick else DEFAULT_OUT

    console = Console(highlight=False)
    if not console.is_terminal:  # piped or in CI: wide enough for one line a figure
        console = Console(highlight=False, width=140)
    size = "quick" if args.quick else "full"
    selected = [m for m in mods if not args.only or m.NAME in args.only]
    started_at = datetime.now(UTC)
    load_before = _loadavg()
    results: list[Result] = []
    errors: dict[str, str] = {}
    t0 = time.perf_counter()
    for module in selected:
        with console.status(f"[bold]{module.NAME}[/bold]: {module.TITLE}"):
            try:
                results.append(module.run(**module.PARAMS[size]))
            except Exception as exc:
                errors[module.NAME] = "".join(traceback.format_exception(exc))[-4000:]
                console.print(f"[red]{module.NAME} failed:[/red] {exc}")
        if results and results[-1].benchmark == module.NAME:
            console.print(f"[dim]{module.NAME}: {results[-1].seconds:.1f} s[/dim]")
    elapsed = time.perf_counter() - t0

    for t in tables(results):
        console.print(t)
    for r in results:
        for note in r.notes:
            console.print(f"[dim]{r.benchmark}:[/dim] {note}")
    failed = [(r.benchmark, f.name) for r in results for f in r.failed]
    budgets = sum(1 for r in results for f in r.figures if f.budget)
    summary = f"{budgets - len(failed)} of {budgets} budgets met"
    console.print(
        f"\n[bold]{summary}[/bold]; {len(results)} benchmarks in {elapsed:.0f} s ({size})"
        + (f"; [red]{len(errors)} could not run: {', '.join(errors)}[/red]" if errors else "")
    )
    for bench, name in failed:
        console.print(f"[red]budget failed:[/red] {bench}: {name}")

    doc = {
        "date": started_at.isoformat(timespec="seconds"),
        "size": size,
        "seconds": round(elapsed, 1),
        "machine": machine(load_before),
        "summary": {"budgets": budgets, "failed": [f"{b}: {n}" for b, n in failed]},
        "benchmarks": {r.benchmark: r.to_dict() for r in results},
        "errors": errors,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"[dim]wrote {_shown(args.out)}[/dim]")
    if errors:
        return 1
    return 1 if args.strict and failed else 0


def tables(results: list[Result]) -> list[Table]:
    """One table per benchmark: figure, value, baseline (same run), ratio, budget, verdict."""
    out = []
    for r in results:
        t = Table(title=r.title, title_justify="left", title_style="bold", expand=False)
        t.add_column("figure", ratio=1)
        t.add_column("value", justify="right", no_wrap=True)
        t.add_column("baseline", justify="right", no_wrap=True)
        t.add_column("ratio", justify="right", no_wrap=True)
        t.add_column("budget", justify="right", no_wrap=True)
        t.add_column("", justify="center", no_wrap=True)
        for f in r.figures:
            t.add_row(
                f.name,
                value_text(f.value, f.unit),
                value_text(f.baseline, f.unit) if f.baseline is not None else "",
                ratio_text(f.ratio),
                f.budget.describe(f.unit) if f.budget else "",
                _verdict(f),
            )
        out.append(t)
    return out


def ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.2g}×"


def value_text(x: float, unit: str) -> str:
    if unit in ("calls", "responses") and float(x).is_integer():
        return f"{int(x)} {unit}"
    if abs(x) >= 100:
        return f"{x:,.0f} {unit}"
    return f"{x:.3g} {unit}"


def _verdict(f: Figure) -> Text:
    if f.passed is None:
        return Text("")
    return Text("pass", style="green") if f.passed else Text("FAIL", style="bold red")


def machine(load_before: list[float] | None) -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_mb": _mem_total_mb(),
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
        "packages": {p: _version(p) for p in PACKAGES},
        "git": _git(),
    }
    wrk = _wrk_version()
    if wrk:
        info["wrk"] = wrk
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_total_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git() -> dict[str, Any] | None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        # The previous results file is this run's output, not a change to what is measured.
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/*.json")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(dirty)}


def _wrk_version() -> str | None:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
