"""`rebound plan` and `apply` after an interrupted apply, beside a running one, and when a
rollback is refused: a friendly message and exit 1, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.links.record import link_key
from rebound import cli

MANY = 150


def run(*args: str):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def links_file(path: Path, url: str, n: int = MANY) -> Path:
    lines = ["version: 1", "domains:", "  - name: go.localhost", "links:"]
    for i in range(n):
        lines += [
            "  - domain: go.localhost",
            f"    slug: l{i:03d}",
            f"    url: {url}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def before_transaction(n: int, fault) -> None:
    seen = {"calls": 0}

    def hook(**_: Any) -> None:
        seen["calls"] += 1
        if seen["calls"] == n:
            fault()

    client("dynamodb").meta.events.register(
        "before-call.dynamodb.TransactWriteItems", hook, unique_id="cli-fault"
    )


def clear_faults() -> None:
    client("dynamodb").meta.events.unregister(
        "before-call.dynamodb.TransactWriteItems", unique_id="cli-fault"
    )


def interrupt() -> None:
    raise KeyboardInterrupt


@pytest.fixture
def old_and_new(aws, tmp_path) -> tuple[Path, Path]:
    old = links_file(tmp_path / "old.yaml", "https://shop.example/old")
    assert run("apply", str(old), "--yes").exit_code == 0
    return old, links_file(tmp_path / "new.yaml", "https://shop.example/new")


def test_an_interrupted_apply_is_reported_by_plan_and_finished_by_the_next_apply(old_and_new):
    _, new = old_and_new
    before_transaction(2, interrupt)
    try:
        interrupted = run("apply", str(new), "--yes")
    finally:
        clear_faults()
    assert interrupted.exit_code == 1
    plan = run("plan", str(new))
    assert plan.exit_code == 0
    assert "An apply was interrupted at" in plan.output
    assert "98 of 150 writes done" in plan.output
    assert "new.yaml" in plan.output
    # Against the finished state, the same file has nothing left to change.
    assert "No changes" in plan.output
    finished = run("apply", str(new), "--yes")
    assert finished.exit_code == 0, finished.output
    assert "Finished the interrupted apply" in finished.output
    again = run("plan", str(new))
    assert "was interrupted" not in again.output and "No changes:" in again.output
    exported = run("export").output
    assert "https://shop.example/old" not in exported


def test_the_next_apply_of_another_file_finishes_the_interrupted_one_first(old_and_new, tmp_path):
    old, new = old_and_new
    before_transaction(2, interrupt)
    try:
        run("apply", str(new), "--yes")
    finally:
        clear_faults()
    plan = run("plan", str(old))
    assert "the next apply finishes it" in plan.output
    assert "Plan: 0 to create, 150 to update, 0 to delete." in plan.output
    assert run("apply", str(old), "--yes").exit_code == 0
    assert "https://shop.example/new" not in run("export").output
    assert "No changes" in run("plan", str(old)).output


def test_an_apply_while_another_holds_the_lock_is_refused(old_and_new):
    _, new = old_and_new
    seen: list[Any] = []
    before_transaction(2, lambda: seen.append(run("apply", str(new), "--yes")))
    try:
        assert run("apply", str(new), "--yes").exit_code == 0
    finally:
        clear_faults()
    (second,) = seen
    assert second.exit_code == 1
    assert "another apply" in second.output and "in progress" in second.output
    assert "Traceback" not in second.output


def test_a_refused_rollback_is_the_friendly_concurrent_change_error(old_and_new):
    _, new = old_and_new
    ddb, table = client("dynamodb"), Names.from_env().links_table

    def someone_else() -> None:
        for slug in ("l000", f"l{MANY - 1:03d}"):
            ddb.update_item(
                TableName=table,
                Key={"pk": {"S": link_key("go.localhost", slug)}},
                UpdateExpression="SET version = version + :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

    before_transaction(2, someone_else)
    try:
        result = run("apply", str(new), "--yes")
    finally:
        clear_faults()
    assert result.exit_code == 1
    assert "changed since it was read" in result.output
    assert link_key("go.localhost", "l000") in result.output
    assert "Traceback" not in result.output


def test_an_aws_error_mid_apply_is_a_user_error_and_changes_nothing(old_and_new):
    from botocore.exceptions import ClientError

    _, new = old_and_new

    def throttled() -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "TransactWriteItems")

    before_transaction(2, throttled)
    try:
        result = run("apply", str(new), "--yes")
    finally:
        clear_faults()
    assert result.exit_code == 1
    assert "ThrottlingException" in result.output and "nothing was changed" in result.output
    assert "https://shop.example/new" not in run("export").output
