"""Helpers for config tests: load text, find the one issue, locate text in a YAML snippet."""

from __future__ import annotations

import textwrap

import pytest

from chalicelib.config.loader import ConfigError, ConfigIssue, load_config_text

FILE = "links.yaml"

# A small valid config that tests extend: one domain, meta configured, one link.
HEAD = """\
version: 1
domains:
  - name: go.localhost
platforms:
  meta: {pixel_id: "1234", access_token: ssm:/rebound/meta-token}
"""


def yaml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def issues_of(text: str) -> list[ConfigIssue]:
    """Every issue the loader reports for `text` (the test fails if it loads)."""
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, FILE)
    return caught.value.issues


def one_issue(text: str) -> ConfigIssue:
    issues = issues_of(text)
    assert len(issues) == 1, "\n".join(map(str, issues))
    return issues[0]


def at(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, col) of the `nth` occurrence of `needle` in `text`."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def assert_issue(text: str, field: str, needle: str, message: str, nth: int = 0) -> ConfigIssue:
    """Exactly one issue, at `needle`, about `field`, whose message contains `message`."""
    issue = one_issue(text)
    assert (issue.field, (issue.line, issue.col)) == (field, at(text, needle, nth)), str(issue)
    assert message in issue.message, str(issue)
    assert issue.file == FILE
    return issue
