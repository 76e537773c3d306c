"""End to end: `rebound local` as a subprocess, driven with the `rebound --local` command line."""

from __future__ import annotations

import json
import textwrap
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

MY_LINKS = textwrap.dedent(
    """\
    version: 1
    domains:
      - name: go.localhost
        root_url: https://shop.example/
        not_found_url: https://shop.example/missing
    links:
      - domain: go.localhost
        slug: e2e-new
        url: https://shop.example/e2e
        campaign: e2e
    """
)


def test_health_answers(stack):
    with urllib.request.urlopen(stack.url("/_/health"), timeout=5) as r:
        assert r.status == 200
        assert json.loads(r.read()) == {"status": "ok"}


def test_example_links_were_applied_at_start(stack):
    result = stack.rebound("export")
    assert result.returncode == 0, result.stderr
    assert "slug: spring-sale" in result.stdout
    assert "name: go.localhost" in result.stdout


def test_plan_apply_export_round_trip_against_the_running_stack(stack, tmp_path):
    mine = tmp_path / "my-links.yaml"
    mine.write_text(MY_LINKS)

    plan = stack.rebound("plan", str(mine))
    assert plan.returncode == 0, plan.stderr
    assert "+ link go.localhost/e2e-new" in plan.stdout

    apply = stack.rebound("apply", str(mine), "--yes")
    assert apply.returncode == 0, apply.stderr
    assert "1 created" in apply.stdout

    again = stack.rebound("apply", str(mine), "--yes")
    assert again.returncode == 0
    assert "No changes" in again.stdout

    exported = tmp_path / "live.yaml"
    assert stack.rebound("export", "-o", str(exported)).returncode == 0
    assert "slug: e2e-new" in exported.read_text()
    replan = stack.rebound("plan", str(exported), "--prune")
    assert replan.returncode == 0, replan.stderr
    assert "No changes" in replan.stdout


def test_a_bad_file_is_refused_with_its_position_and_nothing_is_written(stack, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MY_LINKS.replace("slug: e2e-new", "slug: e2e-bad\n    colour: red"))
    result = stack.rebound("apply", str(bad), "--yes")
    assert result.returncode == 1
    assert f"{bad}:9:5 links[0].colour" in result.stderr
    assert "e2e-bad" not in stack.rebound("export").stdout


def test_local_flag_without_a_stack_is_a_clear_user_error(stack, tmp_path):
    import subprocess

    from tests.e2e.conftest import PROJECT, REBOUND, free_port

    env = {**stack.env, "REBOUND_AWS_PORT": str(free_port())}
    result = subprocess.run(
        [*REBOUND, "--local", "export"], env=env, capture_output=True, text=True, cwd=PROJECT
    )
    assert result.returncode == 1
    assert "no local stack is listening" in result.stderr
