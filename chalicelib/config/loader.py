"""Load links.yaml into a `Config`, or fail with every problem at once, each with its position.

    FILE:LINE:COL field.path: message

Three passes, all run before anything is reported: reading the YAML (syntax, duplicate keys,
unsupported tags), the model (every field error pydantic finds in one go), and the
cross-references (unknown domains, duplicate slugs, unconfigured platforms, ...).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from chalicelib.config.dump import dump_config_yaml
from chalicelib.config.introspect import field_order, model_at
from chalicelib.config.model import VERSION, Config, unsupported_version
from chalicelib.config.references import REFERENCES_CHECKED, Problem, reference_problems
from chalicelib.config.values import ALLOW_ENDPOINTS, STAGE
from chalicelib.config.yamldoc import Document, Loc, Mark, YamlSyntaxError, format_loc, read_yaml

__all__ = [
    "Config",
    "ConfigError",
    "ConfigIssue",
    "config_schema",
    "dump_config_yaml",
    "load_config",
    "load_config_text",
]


@dataclass(frozen=True, order=True)
class ConfigIssue:
    """One problem in a config file. `line`/`col` are 1-based (0 when the file has no text)."""

    file: str
    line: int
    col: int
    field: str  # e.g. links[3].rules[0].when.country[1]; "" for the document as a whole
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where} {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config file with problems; `.issues` lists all of them, in file order."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(set(issues))  # by file, line, col, field, message
        super().__init__("\n".join(str(issue) for issue in self.issues))


def load_config(
    path: str | Path, stage: str | None = None, allow_endpoints: bool | None = None
) -> Config:
    """Read and validate a links.yaml file. Raises `ConfigError` listing every problem.

    With `stage`, also what that stage's functions could not use: secrets outside its path and,
    when `allow_endpoints` is False, platform endpoint overrides."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(name, 0, 0, "", f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([ConfigIssue(name, line, 0, "", "the file is not UTF-8 text")]) from None
    return load_config_text(text, name, stage, allow_endpoints)


def load_config_text(
    text: str, filename: str, stage: str | None = None, allow_endpoints: bool | None = None
) -> Config:
    """Validate links.yaml text; `filename` is only used in messages (see `load_config`)."""
    try:
        doc = read_yaml(text)
    except YamlSyntaxError as exc:
        raise ConfigError([_issue(filename, exc.mark, (), exc.message)]) from None

    issues = [_issue(filename, mark, loc, message) for loc, mark, message in doc.problems]
    data = doc.data
    if not isinstance(data, dict):
        message = "the file is empty" if data is None else "the top level must be a mapping"
        hint = f"; it starts with `version: {VERSION}`, then domains, platforms, audiences, links"
        raise ConfigError([*issues, _issue(filename, doc.mark(()), (), message + hint)])

    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version != VERSION:
        # Another version is another format: its other "errors" would only be noise.
        loc = ("version",)
        raise ConfigError([_issue(filename, doc.mark(loc), loc, unsupported_version(version))])

    config: Config | None = None
    try:
        context = {REFERENCES_CHECKED: True, STAGE: stage, ALLOW_ENDPOINTS: allow_endpoints}
        config = Config.model_validate(data, context=context)
    except ValidationError as exc:
        issues += [
            _from_pydantic(error, doc, filename)
            for error in exc.errors()
            if not _under(tuple(error["loc"]), doc.unreadable)  # already reported as YAML
        ]
    issues += [_from_problem(problem, doc, filename) for problem in reference_problems(data)]
    if issues or config is None:
        raise ConfigError(issues)
    return config


def config_schema() -> dict[str, Any]:
    """JSON Schema of links.yaml, for editors (e.g. `# yaml-language-server: $schema=...`)."""
    schema = Config.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# ------------------------------------------------------------------------------- internals


def _under(loc: Loc, roots: set[Loc]) -> bool:
    return any(loc[:n] in roots for n in range(len(loc) + 1))


def _issue(filename: str, mark: Mark, loc: Loc, message: str) -> ConfigIssue:
    return ConfigIssue(filename, mark.line, mark.col, format_loc(loc), message)


def _from_problem(problem: Problem, doc: Document, filename: str) -> ConfigIssue:
    def where(loc: Loc) -> str:
        return f"{format_loc(loc)} (line {doc.mark(loc).line})"

    return _issue(filename, doc.mark(problem.loc), problem.loc, problem.render(where))


def _from_pydantic(error: ErrorDetails, doc: Document, filename: str) -> ConfigIssue:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    at_key = False
    if loc and loc[-1] == "[key]":  # a mapping key that failed validation (e.g. a query param)
        loc, at_key = loc[:-1], True
    if "field" in ctx:  # a model-level check about one of its fields
        loc = (*loc, ctx["field"])
    if kind == "extra_forbidden":
        at_key = True
    mark = doc.mark(loc[:-1] if kind == "missing" else loc, key=at_key)
    return _issue(filename, mark, loc, _message(error, loc))


_PLAIN = {
    "model_type": "expected a mapping (key: value)",
    "model_attributes_type": "expected a mapping (key: value)",
    "dict_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "int_type": "expected a whole number",
    "string_too_short": "must not be empty",
}


def _message(error: ErrorDetails, loc: Loc) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "rebound":
        return str(ctx["message"])
    if kind == "missing":
        return f"missing required key `{loc[-1]}`"
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind == "literal_error":
        return f"expected {ctx['expected']}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "too_short" and isinstance(error.get("input"), str):
        return "must not be empty"
    if kind == "too_short":
        n = ctx["min_length"]
        return f"needs at least {n} {'entry' if n == 1 else 'entries'}"
    if kind in ("string_too_long", "too_long") and isinstance(error.get("input"), str):
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} entries"
    if kind.startswith(("datetime_", "date_")):
        return f"expected a date and time such as 2026-11-01T00:00:00Z ({error['msg']})"
    return error["msg"]


def _unknown_key(loc: Loc) -> str:
    key = str(loc[-1])
    model = model_at(Config, loc[:-1])
    if model is None:
        return f"unknown key `{key}`"
    allowed = field_order(model)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"unknown key `{key}`{hint} (allowed: {', '.join(allowed)})"
