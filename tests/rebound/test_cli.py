"""`rebound` commands in-process on moto: output, exit codes, and refusals."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from rebound import cli
from rebound.local import EXAMPLE

GOOD = textwrap.dedent(
    """\
    version: 1
    domains:
      - name: go.localhost
        root_url: https://shop.example/
    links:
      - domain: go.localhost
        slug: one
        url: https://shop.example/one
      - domain: go.localhost
        slug: two
        url: https://shop.example/two
    """
)


def run(*args: str):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


@pytest.fixture
def good(tmp_path) -> Path:
    path = tmp_path / "links.yaml"
    path.write_text(GOOD)
    return path


def test_validate_ok_summarises_the_file(good):
    result = run("validate", str(good))
    assert result.exit_code == 0
    assert "ok (1 domains, 2 links" in result.output


def test_validate_prints_every_error_with_file_line_col_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace("url: https://shop.example/one", "url: ftp://shop.example/one")
        .replace("slug: two", "slug: -two")
        .replace("root_url", "root_link")
    )
    result = run("validate", str(bad))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith(f"{bad}:4:5 domains[0].root_link:") for line in lines), lines
    assert any(line.startswith(f"{bad}:8:10 links[0].url:") for line in lines), lines
    assert any(line.startswith(f"{bad}:10:11 links[1].slug:") for line in lines), lines
    assert "3 errors, nothing was changed" in result.output


def test_a_missing_file_is_a_user_error(tmp_path):
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert "nope.yaml" in result.output


def test_usage_errors_exit_2():
    assert run("validate").exit_code == 2
    assert run("no-such-command").exit_code == 2
    assert run("query").exit_code == 2


def test_schema_is_json_schema():
    result = run("schema")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "links" in schema["properties"]


def test_plan_apply_and_the_second_apply_says_nothing_to_change(aws, good):
    plan = run("plan", str(good))
    assert plan.exit_code == 0
    assert "+ link go.localhost/one" in plan.output
    assert "Plan: 3 to create, 0 to update, 0 to delete." in plan.output
    assert run("apply", str(good), "--yes").exit_code == 0
    again = run("apply", str(good), "--yes")
    assert again.exit_code == 0 and "No changes" in again.output


def test_plan_shows_field_level_updates_and_prune_deletes(aws, good, tmp_path):
    run("apply", str(good), "--yes")
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        GOOD.replace("https://shop.example/one", "https://shop.example/uno").split(
            "  - domain: go.localhost\n    slug: two"
        )[0]
    )
    plan = run("plan", str(changed), "--prune")
    assert "~ link go.localhost/one" in plan.output
    assert 'url: "https://shop.example/one" → "https://shop.example/uno"' in plan.output
    assert "- link go.localhost/two" in plan.output
    without_prune = run("plan", str(changed))
    assert "- link" not in without_prune.output


def test_apply_refuses_without_a_terminal_or_yes(aws, good):
    result = run("apply", str(good))
    assert result.exit_code == 2
    assert "--yes" in result.output


def test_a_concurrent_change_between_plan_and_apply_is_refused(aws, good, monkeypatch, tmp_path):
    run("apply", str(good), "--yes")
    mine = tmp_path / "mine.yaml"
    mine.write_text(GOOD.replace("https://shop.example/one", "https://shop.example/mine"))
    theirs = tmp_path / "theirs.yaml"
    theirs.write_text(GOOD.replace("https://shop.example/one", "https://shop.example/theirs"))
    # While this apply waits for its confirmation, someone else applies theirs.
    monkeypatch.setattr(cli, "_confirm", lambda: run("apply", str(theirs), "--yes"))
    result = run("apply", str(mine))
    assert result.exit_code == 1
    assert "changed since it was read" in result.output
    export = run("export")
    assert "https://shop.example/theirs" in export.output
    assert "https://shop.example/mine" not in export.output


def test_a_bad_file_writes_nothing(aws, good, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD + "  - domain: nowhere.example\n    slug: three\n    url: https://x.example/\n"
    )
    result = run("apply", str(bad), "--yes")
    assert result.exit_code == 1
    assert "links[2].domain" in result.output
    assert "slug: one" not in run("export").output


def test_the_example_round_trips_apply_export_plan(aws, tmp_path):
    example = tmp_path / "links.yaml"
    shutil.copy(EXAMPLE, example)
    assert run("apply", str(example), "--yes").exit_code == 0
    exported = tmp_path / "exported.yaml"
    assert run("export", "-o", str(exported)).exit_code == 0
    plan = run("plan", str(exported), "--prune")
    assert plan.exit_code == 0 and "No changes" in plan.output, plan.output


def test_no_table_is_a_clear_user_error(aws, good, monkeypatch):
    monkeypatch.setenv("REBOUND_STAGE", "nowhere")
    result = run("plan", str(good))
    assert result.exit_code == 1
    assert "rebound-nowhere-links does not exist" in result.output


def test_validate_checks_the_file_against_the_target_stage(tmp_path):
    staged = tmp_path / "staged.yaml"
    staged.write_text(
        "version: 1\n"
        "platforms:\n"
        "  meta: {pixel_id: '1', access_token: ssm:/rebound/local/meta-token,\n"
        "         endpoint: 'https://collector.example/'}\n"
    )
    local = run("--stage", "local", "validate", str(staged))
    assert local.exit_code == 0, local.output
    prod = run("--stage", "prod", "validate", str(staged))
    assert prod.exit_code == 1
    assert f"{staged}:3:39 platforms.meta.access_token:" in prod.output
    assert "ssm:/rebound/prod/" in prod.output
    assert f"{staged}:4:20 platforms.meta.endpoint:" in prod.output
    assert "REBOUND_ALLOW_ENDPOINTS" in prod.output
