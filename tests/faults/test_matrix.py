"""The fault matrix (shared/DESIGN.md §8): every AWS call site and platform request on every path,
discovered by running the path, × throttle, timeout, 500 and crash after success, then replayed
as Lambda, the merchant, the visitor or the marketer would; every cell must keep the promises.

One test per path: it runs every cell and fails listing each cell that does not hold. `-s`
prints the path's table (the one docs/operations.md keeps: `python -m tests.faults.matrix`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path as FilePath

import pytest

from tests.faults.engine import HOLDS, Cell, Discovery
from tests.faults.injector import Site
from tests.faults.matrix import failures, run_parallel, table
from tests.faults.paths import PATHS

WORKERS = int(os.environ.get("REBOUND_FAULT_WORKERS", "2"))  # processes for the matrix
CHALICELIB = FilePath(__file__).resolve().parents[2] / "chalicelib"

# Sites a path must reach: if discovery finds fewer, the path (not the code) is broken.
KNOWN_SITES = {
    "redirect": {("dynamodb", "GetItem"), ("kinesis", "PutRecord"), ("dynamodb", "UpdateItem")},
    "redirect-after-response": {("kinesis", "PutRecords"), ("sqs", "SendMessage")},
    "republisher": {("kinesis", "PutRecords")},
    "postback": {("dynamodb", "GetItem"), ("ssm", "GetParameter"), ("kinesis", "PutRecord")},
    "archiver": {("s3", "PutObject"), ("dynamodb", "BatchWriteItem")},
    "dispatcher": {
        ("dynamodb", "PutItem"),
        ("dynamodb", "BatchWriteItem"),
        ("sqs", "SendMessageBatch"),
        ("http", "POST meta"),
        ("http", "POST tiktok"),
    },
    "rollup": {("s3", "ListObjectsV2"), ("s3", "GetObject"), ("dynamodb", "Query")},
    "apply": {("dynamodb", "Scan"), ("dynamodb", "TransactWriteItems")},
}

# boto3 calls in chalicelib that no path of the matrix makes, and why.
NOT_ON_A_PATH = {
    ("clicks/salt.py", "DeleteItem"): "the salt shredder (a schedule of its own)",
    ("aws/names.py", "GetCallerIdentity"): "only without REBOUND_LAKE_BUCKET (set on every stage)",
    ("rollup/lake.py", "DeleteObjects"): "only when an hour's stale Parquet is replaced",
    ("rollup/store.py", "Query"): "the CLI's latest manifest",
    ("dispatch/ledger.py", "GetItem"): "Ledger.status (tests and the CLI)",
    ("links/store.py", "GetItem"): "ConfigStore.get (the CLI)",
    ("links/counter.py", "GetItem"): "ClickCounter.count (tests and the CLI)",
    ("dispatch/ledger.py", "DeleteItem"): "a claim released alone after a failed batch release",
    ("conversions/intake.py", "GetItem"): "a refused claim whose refusal returned no marker",
}


_results: dict[str, tuple[Discovery, list[Cell]]] = {}
GUARD = "test_discovery_finds_the_known_sites_and_every_aws_call_in_chalicelib"


@pytest.fixture(scope="module")
def matrix(request) -> dict[str, tuple[Discovery, list[Cell]]]:
    """Every selected path's matrix, computed once, the paths split over two processes."""
    wanted = set()
    for item in request.session.items:
        if item.module is not request.module:
            continue
        if item.originalname == GUARD:
            wanted |= {p.name for p in PATHS}
        elif getattr(item, "callspec", None) and "path_name" in item.callspec.params:
            wanted.add(item.callspec.params["path_name"])
    todo = [p.name for p in PATHS if p.name in wanted and p.name not in _results]
    if todo:
        _results.update(run_parallel(todo, workers=WORKERS))
    return _results


@pytest.mark.parametrize("path_name", [p.name for p in PATHS])
def test_every_fault_at_every_call_site_keeps_the_promises(matrix, path_name: str, capsys):
    found, cells = matrix[path_name]
    assert found.baseline.verdict == HOLDS, f"fault-free run: {found.baseline.problems}"
    with capsys.disabled():
        print(
            f"\n{path_name}: {len(found.sites)} call sites, {len(cells)} cells, "
            f"{sum(c.seconds for c in cells):.1f} s"
        )
        print("\n".join(table(path_name, cells)))
    broken = failures(cells)
    assert not broken, f"{len(broken)} of {len(cells)} cells do not hold:\n" + "\n".join(broken)


def test_discovery_finds_the_known_sites_and_every_aws_call_in_chalicelib(matrix):
    seen: set[Site] = set()
    for path in PATHS:
        found, cells = matrix[path.name]
        reached = set(found.sites).union(*(c.seen for c in cells))
        got = {(s.service, s.operation) for s in reached}
        missing = KNOWN_SITES[path.name] - got
        assert not missing, f"{path.name} no longer reaches {missing}: is its input representative?"
        seen |= reached
    by_file = {(site_file(s), s.operation) for s in seen}
    operations = {s.operation for s in seen}
    unmatched = sorted(
        {
            f"chalicelib/{file}: {op}"
            for file, op in calls_in_chalicelib()
            if (file, op) not in by_file
            and not (file.startswith("aws/") and op in operations)  # plumbing: named by callers
            and (file, op) not in NOT_ON_A_PATH
        }
    )
    assert not unmatched, (
        "AWS calls no fault-matrix path makes (give a path an input that reaches them, "
        "or list them in NOT_ON_A_PATH with the reason):\n" + "\n".join(unmatched)
    )


def site_file(site: Site) -> str:
    module = site.frame.split(":", 1)[0]
    return module.replace(".", "/") + ".py"


def calls_in_chalicelib() -> list[tuple[str, str]]:
    """(file, Operation) for every ``.<boto3 method>(`` in chalicelib, by the services' models."""
    import boto3
    from botocore import xform_name

    session = boto3.session.Session(region_name="us-east-1")
    methods = {}
    for service in ("dynamodb", "kinesis", "s3", "sqs", "ssm", "secretsmanager", "sts"):
        model = session._session.get_service_model(service)
        for op in model.operation_names:
            methods[xform_name(op)] = op
    pattern = re.compile(r"\.(" + "|".join(sorted(methods, key=len, reverse=True)) + r")\(")
    paginator = re.compile(r"get_paginator\(\s*[\"'](\w+)[\"']")
    found = []
    for file in sorted(CHALICELIB.rglob("*.py")):
        text = file.read_text(encoding="utf-8")
        rel = file.relative_to(CHALICELIB).as_posix()
        found += [(rel, methods[m]) for m in pattern.findall(text)]
        found += [(rel, methods[m]) for m in paginator.findall(text) if m in methods]
    return found
