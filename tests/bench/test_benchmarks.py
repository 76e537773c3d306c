"""Each benchmark runs on tiny sizes and returns well-formed results. No timing is asserted:
the figures of a smoke run mean nothing, only their shape does."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

import bench
from bench import __main__ as cli
from bench.cold_start import parse_importtime
from bench.figures import Budget, Figure, Result, percentile

MODULES = {m.NAME: m for m in bench.benchmarks()}


def check_result(result: Result, module) -> None:
    assert result.benchmark == module.NAME
    assert result.title == module.TITLE
    assert result.figures, "a benchmark reports at least one figure"
    assert result.seconds > 0
    names = [f.name for f in result.figures]
    assert len(names) == len(set(names)), "figure names are unique within a benchmark"
    for f in result.figures:
        assert f.name and f.unit
        assert math.isfinite(f.value), f
        if f.baseline is not None:
            assert math.isfinite(f.baseline) and f.baseline_name, f
        if f.ratio is not None:
            assert f.ratio == pytest.approx(f.value / f.baseline)
        if f.budget is not None:
            assert isinstance(f.passed, bool)
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["benchmark"] == module.NAME
    assert {"name", "value", "unit", "baseline", "ratio", "budget", "passed"} <= set(
        doc["figures"][0]
    )


@pytest.mark.parametrize(
    "name",
    [n for n in MODULES if n not in ("local-stack", "after-response")],
    ids=lambda n: n.replace("-", "_"),
)
def test_each_benchmark_runs_on_tiny_sizes_and_returns_well_formed_figures(name):
    module = MODULES[name]
    check_result(module.run(**module.PARAMS["tiny"]), module)


def test_the_after_response_benchmark_runs_on_tiny_sizes_and_budgets_the_time_to_response():
    module = MODULES["after-response"]
    result = module.run(**module.PARAMS["tiny"])
    check_result(result, module)
    budgeted = [f for f in result.figures if f.budget]
    assert [f.name for f in budgeted] == [
        "cache hit: time to response, after-response (median)",
        "cache hit: time to response, after-response vs the redirect publishing nothing (median)",
    ]
    assert budgeted[0].baseline_name.startswith("bare Chalice function, no AWS call")
    assert budgeted[1].baseline_name.startswith("the same redirect recording no click")
    # tiny kills no process (each kill is a child process: tests/redirect's SIGKILL test)
    assert not [f for f in result.figures if f.name.startswith("clicks lost")]


@pytest.mark.e2e
def test_the_local_stack_benchmark_runs_with_the_python_load_generator():
    module = MODULES["local-stack"]
    result = module.run(**module.PARAMS["tiny"])
    check_result(result, module)
    assert result.params["tool"] == "python"


def test_every_benchmark_has_full_quick_and_tiny_sizes_with_the_same_keys():
    for module in MODULES.values():
        assert set(module.PARAMS) == {"full", "quick", "tiny"}, module.NAME
        assert len({frozenset(p) for p in module.PARAMS.values()}) == 1, module.NAME


def test_budgets_compare_the_ratio_or_the_value():
    assert Figure("x", 140, "µs", 100, "b", Budget(1.5)).passed is True
    assert Figure("x", 160, "µs", 100, "b", Budget(1.5)).passed is False
    assert Figure("x", 0, "calls", 0, "b", Budget(0, on="value", op="==")).passed is True
    assert Figure("x", 101, "MB", 50, "b", Budget(100, on="value")).passed is False
    assert Figure("x", 1, "MB").passed is None
    assert Figure("x", 1, "calls", 0, "b").ratio is None


def test_percentile_interpolates_between_ranks():
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile(list(range(101)), 99) == 99
    assert percentile([7], 99) == 7


def test_importtime_report_sums_top_level_cumulative_times():
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:        10 |         10 |   _io\n"
        "import time:        20 |         30 | io\n"
        "import time:       100 |        150 | app\n"
        "import time:        50 |         50 |   chalice\n"
    )
    report = parse_importtime(stderr)
    assert report.total_us == 180
    assert report.self_us["app"] == 100
    assert report.top_us == {"io": 30, "app": 150}
    assert report.modules == 4


def test_the_dispatcher_baseline_sends_one_event_a_request_and_restores_batching():
    from bench.dispatcher import PLATFORMS, one_event_per_request
    from chalicelib.platforms.registry import platform

    shipped = {name: platform(name).MAX_BATCH for name in PLATFORMS}
    with one_event_per_request():
        assert {platform(name).MAX_BATCH for name in PLATFORMS} == {1}
    assert {name: platform(name).MAX_BATCH for name in PLATFORMS} == shipped


def test_main_prints_and_writes_results_json(tmp_path, monkeypatch, capsys):
    def run(*, n: int) -> Result:
        return Result(
            "fake",
            "A fake benchmark",
            [Figure("thing", 2.0 * n, "ms", 1.0, "nothing", Budget(1.5))],
            params={"n": n},
            seconds=0.01,
        )

    fake = SimpleNamespace(
        NAME="fake", TITLE="A fake benchmark", PARAMS={"full": {"n": 1}, "quick": {"n": 1}}, run=run
    )
    monkeypatch.setattr(cli, "benchmarks", lambda: [fake])
    out = tmp_path / "results.json"
    assert cli.main(["--quick", "--out", str(out)]) == 0
    assert cli.main(["--quick", "--strict", "--out", str(out)]) == 1  # 2.0× > 1.5×
    doc = json.loads(out.read_text())
    assert doc["size"] == "quick"
    assert doc["machine"]["python"] and doc["machine"]["cpus"]
    figure = doc["benchmarks"]["fake"]["figures"][0]
    assert figure["ratio"] == 2.0 and figure["passed"] is False
    assert doc["summary"]["failed"] == ["fake: thing"]
    assert "A fake benchmark" in capsys.readouterr().out


def test_main_reports_a_benchmark_that_cannot_run(tmp_path, monkeypatch):
    def run() -> Result:
        raise RuntimeError("no moto today")

    broken = SimpleNamespace(NAME="broken", TITLE="Broken", PARAMS={"full": {}}, run=run)
    monkeypatch.setattr(cli, "benchmarks", lambda: [broken])
    out = tmp_path / "results.json"
    assert cli.main(["--out", str(out)]) == 1
    assert "no moto today" in json.loads(out.read_text())["errors"]["broken"]


def test_the_rollup_benchmark_caps_duckdb_as_the_deployed_function_does():
    from ruamel.yaml import YAML

    from bench import interpreter, rollup
    from chalicelib.rollup.run import memory_limit

    template = YAML(typ="safe").load((interpreter.PROJECT / "infra" / "template.yaml").read_text())
    deployed = template["Resources"]["Rollup"]["Properties"]["MemorySize"]
    assert deployed == rollup.LAMBDA_MEMORY_MB
    assert memory_limit({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(deployed)}) == rollup.LAMBDA_LIMIT


def test_a_partial_or_quick_run_never_overwrites_the_reference_results(tmp_path, monkeypatch):
    def run(*, n: int) -> Result:
        return Result("fake", "A fake benchmark", [Figure("thing", 1.0, "ms")], seconds=0.01)

    fake = SimpleNamespace(
        NAME="fake", TITLE="A fake benchmark", PARAMS={"full": {"n": 1}, "quick": {"n": 1}}, run=run
    )
    monkeypatch.setattr(cli, "benchmarks", lambda: [fake])
    reference, partial = tmp_path / "results.json", tmp_path / "build" / "bench-partial.json"
    monkeypatch.setattr(cli, "DEFAULT_OUT", reference)
    monkeypatch.setattr(cli, "PARTIAL_OUT", partial)
    for argv in (["--only", "fake"], ["--quick"]):
        assert cli.main(argv) == 0
        assert partial.exists() and not reference.exists()
        partial.unlink()
    assert cli.main([]) == 0
    assert reference.exists() and not partial.exists()
