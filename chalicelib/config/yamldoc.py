"""Read YAML text into plain Python values, remembering where every key and value was written.

ruamel.yaml composes the node tree (which carries line/column marks); we build the values
ourselves instead of letting a constructor do it, so that we can

- report *every* duplicate key (a constructor stops at the first), with both positions;
- keep the text of unquoted numbers and dates (``slug: 007``, ``pixel_id: 1234``), so that a
  field that wants a string gets what was written, not ``7``;
- refuse tags other than YAML's standard ones (``!Ref`` etc.) with a position, not a crash.

Positions are 1-based. A location (``Loc``) is the path of keys and list indexes from the root,
the same shape as pydantic's error ``loc``; ``format_loc`` writes it as people read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

Loc = tuple[str | int, ...]


_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MERGE_TAG = _TAG + "merge"
# A guard against alias bombs ("billion laughs"): no sane links.yaml reuses anchors this often.
MAX_ALIAS_VALUES = 100_000


def format_loc(loc: Loc) -> str:
    """`("links", 3, "rules", 0)` -> `links[3].rules[0]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "a").replace("-", "a").isalnum() and part.isascii():
            out += f".{part}" if out else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{escaped}"]'
    return out


@dataclass(frozen=True, order=True)
class Mark:
    """A 1-based position in the text."""

    line: int
    col: int


@dataclass
class Document:
    """The values of a YAML document plus where each of them was written."""

    data: Any
    keys: dict[Loc, Mark] = field(default_factory=dict)  # where a mapping entry's key is
    values: dict[Loc, Mark] = field(default_factory=dict)  # where each value starts
    problems: list[tuple[Loc, Mark, str]] = field(default_factory=list)  # found while reading
    unreadable: set[Loc] = field(default_factory=set)  # values read as None because of a problem

    def mark(self, loc: Loc, *, key: bool = False) -> Mark:
        """The position of `loc` (its key if `key`), else of the nearest enclosing value."""
        if key and loc in self.keys:
            return self.keys[loc]
        while loc not in self.values and loc:
            loc = loc[:-1]
        return self.values.get(loc, Mark(1, 1))


class YamlSyntaxError(Exception):
    """The text is not YAML (or not a single document)."""

    def __init__(self, message: str, mark: Mark) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


# Values written unquoted that YAML read as numbers or dates keep their text in `yaml_source`,
# so that string fields take them as written (`007` stays "007"). They are int/float/date/datetime
# in every other respect.
class YamlInt(int):
    yaml_source: str


class YamlFloat(float):
    yaml_source: str


class YamlDate(date):
    yaml_source: str


class YamlDateTime(datetime):
    yaml_source: str


def source_text(value: Any) -> str | None:
    """The text a YAML number or date was written as, or None."""
    return getattr(value, "yaml_source", None)


def _sourced(value: Any, text: str) -> Any:
    out: Any
    if isinstance(value, bool) or not isinstance(value, int | float | date):
        return value
    if isinstance(value, int):
        out = YamlInt(value)
    elif isinstance(value, float):
        out = YamlFloat(value)
    elif isinstance(value, datetime):
        out = YamlDateTime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
        )
    else:
        out = YamlDate(value.year, value.month, value.day)
    out.yaml_source = text
    return out


def _short(tag: str | None) -> str:
    tag = str(tag)  # a composed node always has its tag: None only in ruamel's type hints
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _is_empty(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null" and node.value == ""


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def read_yaml(text: str) -> Document:
    """Parse one YAML document. Raises `YamlSyntaxError`; other problems land in `.problems`."""
    yaml = YAML(typ="safe", pure=True)
    try:
        root = yaml.compose(text)
    except MarkedYAMLError as exc:
        raise _syntax_error(exc) from None
    except ReaderError as exc:  # a character YAML does not allow, e.g. NUL
        before = text[: exc.position]
        mark = Mark(before.count("\n") + 1, exc.position - before.rfind("\n"))
        raise YamlSyntaxError(f"a character YAML does not allow: {exc.reason}", mark) from None
    except YAMLError as exc:
        raise YamlSyntaxError(str(exc).splitlines()[0], Mark(1, 1)) from None
    if root is None:
        return Document(data=None, values={(): Mark(1, 1)})
    builder = _Builder(yaml)
    doc = Document(data=None)
    doc.data = builder.build(root, (), doc)
    return doc


def _syntax_error(exc: MarkedYAMLError) -> YamlSyntaxError:
    """ruamel's message, with a hint for the mistakes people make most."""
    problem = exc.problem or ""
    mark = exc.problem_mark or exc.context_mark
    if "'\\t'" in problem:
        message = "a tab character: indent YAML with spaces, not tabs"
    elif "end of stream" in problem and exc.context_mark is not None:
        # An unclosed quote or bracket: where it was opened helps more than the end of the file.
        mark = exc.context_mark
        message = f"{exc.context} that is never closed"
    else:
        message = f"{problem} ({exc.context})" if exc.context and problem else problem
        message = message or exc.context or "invalid YAML"
        if "<block end>" in problem:
            message += "; check the indentation of this line"
    position = Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)
    return YamlSyntaxError(message, position)


class _Builder:
    def __init__(self, yaml: YAML) -> None:
        self._constructor = yaml.constructor
        self._active: set[int] = set()  # nodes being built: an alias back to one is a cycle
        self._built: set[int] = set()
        self._repeats = 0  # values built again because an alias points at them

    def build(self, node: Node, loc: Loc, doc: Document) -> Any:
        doc.values[loc] = _mark(node)
        if id(node) in self._built:
            self._repeats += 1
            if self._repeats > MAX_ALIAS_VALUES:
                raise YamlSyntaxError("too many values once aliases are expanded", _mark(node))
        self._built.add(id(node))
        if id(node) in self._active:
            doc.problems.append((loc, _mark(node), "an alias may not refer to itself"))
            doc.unreadable.add(loc)
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node, loc, doc)
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode) and node.tag == _TAG + "seq":
                return [self.build(item, (*loc, i), doc) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode) and node.tag == _TAG + "map":
                return self._mapping(node, loc, doc)
        finally:
            self._active.discard(id(node))
        doc.problems.append((loc, _mark(node), f"unsupported YAML tag {_short(node.tag)}"))
        doc.unreadable.add(loc)
        return None

    def _scalar(self, node: ScalarNode, loc: Loc, doc: Document) -> Any:
        if node.tag not in _SCALAR_TAGS:
            doc.problems.append((loc, _mark(node), f"unsupported YAML tag {_short(node.tag)}"))
            doc.unreadable.add(loc)
            return None
        try:
            value = self._constructor.construct_object(node, deep=True)
        except (YAMLError, ValueError) as exc:  # e.g. `!!int abc`, or 2026-02-30
            doc.problems.append((loc, _mark(node), f"cannot read this value: {exc}".split("\n")[0]))
            doc.unreadable.add(loc)
            return None
        return _sourced(value, node.value)

    def _mapping(self, node: MappingNode, loc: Loc, doc: Document) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first: dict[str, Mark] = {}
        merged: list[tuple[ScalarNode, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node, loc, doc))
                continue
            key = self._key(key_node, loc, doc)
            if key is None:
                continue
            if key in first:
                doc.problems.append(
                    (
                        (*loc, key),
                        _mark(key_node),
                        f"duplicate key `{key}` (first written on line {first[key].line})",
                    )
                )
                continue
            first[key] = _mark(key_node)
            doc.keys[(*loc, key)] = first[key]
            out[key] = self.build(value_node, (*loc, key), doc)
            if _is_empty(value_node):
                # `key:` with nothing after it: YAML places the null where the next token starts,
                # which is a line too far. The key is where a person looks.
                doc.values[(*loc, key)] = first[key]
        # `<<: *defaults`: keys written in the mapping itself win; earlier sources win over later.
        for key_node, value_node in merged:
            key = key_node.value
            if key not in out:
                doc.keys[(*loc, key)] = _mark(key_node)
                out[key] = self.build(value_node, (*loc, key), doc)
        return out

    def _key(self, node: Node, loc: Loc, doc: Document) -> str | None:
        if isinstance(node, ScalarNode) and node.tag in _SCALAR_TAGS:
            return str(node.value)  # keys are names: take them as written (`1234:` is "1234")
        doc.problems.append((loc, _mark(node), "a key must be a plain name, not a list or mapping"))
        return None

    def _merge_sources(self, node: Node, loc: Loc, doc: Document) -> list[tuple[ScalarNode, Node]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        entries: list[tuple[ScalarNode, Node]] = []
        for source in sources:
            if not isinstance(source, MappingNode) or id(source) in self._active:
                doc.problems.append((loc, _mark(source), "`<<` merges only mappings"))
                continue
            self._active.add(id(source))
            try:
                own: list[tuple[ScalarNode, Node]] = []
                nested: list[tuple[ScalarNode, Node]] = []
                for key_node, value_node in source.value:
                    if key_node.tag == _MERGE_TAG:
                        nested.extend(self._merge_sources(value_node, loc, doc))
                    elif isinstance(key_node, ScalarNode):
                        own.append((key_node, value_node))
                # Within a source, its own keys win over what it merged in itself.
                entries.extend(own + nested)
            finally:
                self._active.discard(id(source))
        return entries
