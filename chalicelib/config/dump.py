"""Spec dicts -> links.yaml text (what `rebound export` writes).

The text loads back to entities whose `spec()` equals the specs given: keys in the order the
model declares them (whatever order the specs came in, e.g. sorted from the store), lists of plain
values in flow style (`tags: [sale, pricing]`), times unquoted, strings quoted only where YAML
would otherwise read them as something else (`slug: '007'`).
"""

from __future__ import annotations

import io
import re
import typing
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.representer import RoundTripRepresenter

from chalicelib.config.introspect import field_order, unwrap
from chalicelib.config.model import VERSION, Audience, Domain, Link, Platforms, Webhook
from chalicelib.config.values import PLATFORM_NAMES

# Lists of such words read best in flow style (`tags: [sale, pricing]`); anything else goes in
# block style, where quoting is simplest (ruamel writes `[? x]` for "? x", which reads back wrong).
_FLOW_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+/-]*")


class _Timestamp(str):
    """A time from a spec ("2026-11-01T00:00:00Z"), written as a YAML timestamp, unquoted."""


def _represent_timestamp(representer: RoundTripRepresenter, value: _Timestamp) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:timestamp", str(value))


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.default_flow_style = False
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold a long URL or text over lines
    yaml.allow_unicode = True
    yaml.representer.add_representer(_Timestamp, _represent_timestamp)
    return yaml


def dump_config_yaml(
    domains: list[dict[str, Any]],
    platforms: dict[str, dict[str, Any]],
    audiences: list[dict[str, Any]],
    links: list[dict[str, Any]],
    webhooks: list[dict[str, Any]] | None = None,
) -> str:
    """links.yaml text for these specs: version first, then domains, platforms, audiences, links,
    and webhooks when there are any."""
    yaml = _yaml()
    platform_types = {
        name: Platforms.model_fields[name].rebuild_annotation() for name in PLATFORM_NAMES
    }
    names = [n for n in PLATFORM_NAMES if n in platforms] + [
        n for n in platforms if n not in PLATFORM_NAMES
    ]
    platform_map = CommentedMap(
        (name, _canonical(platforms[name], platform_types.get(name, Any))) for name in names
    )
    return "\n".join(
        [
            f"version: {VERSION}\n",
            _list_section(yaml, "domains", [_canonical(d, Domain) for d in domains]),
            _dump(yaml, CommentedMap(platforms=platform_map))
            if platform_map
            else "platforms: {}\n",
            _list_section(yaml, "audiences", [_canonical(a, Audience) for a in audiences]),
            _list_section(yaml, "links", [_canonical(x, Link) for x in links]),
        ]
        + (
            [_list_section(yaml, "webhooks", [_canonical(w, Webhook) for w in webhooks])]
            if webhooks
            else []
        )
    )


def _dump(yaml: YAML, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _list_section(yaml: YAML, name: str, items: list[Any]) -> str:
    """`name:` and its items, with a blank line between items so that each stands out."""
    if not items:
        return f"{name}: []\n"
    chunks = []
    for i, item in enumerate(items):
        text = _dump(yaml, CommentedMap([(name, CommentedSeq([item]))]))
        chunks.append(text if i == 0 else text.split("\n", 1)[1])
    return "\n".join(chunks)


def _flow_word(value: Any) -> bool:
    if isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and bool(_FLOW_WORD.fullmatch(value))


def _canonical(value: Any, tp: Any) -> Any:
    """`value` as ruamel containers, keys in model order, times marked as timestamps."""
    tp = unwrap(tp)
    if isinstance(value, dict):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = tp.model_fields
            order = [n for n in field_order(tp) if n in value]
            order += [k for k in value if k not in fields]
            return CommentedMap(
                (k, _canonical(value[k], fields[k].rebuild_annotation() if k in fields else Any))
                for k in order
            )
        value_tp = typing.get_args(tp)[1] if typing.get_origin(tp) is dict else Any
        return CommentedMap((k, _canonical(v, value_tp)) for k, v in value.items())
    if isinstance(value, list):
        item_tp = typing.get_args(tp)[0] if typing.get_origin(tp) is list else Any
        seq = CommentedSeq(_canonical(v, item_tp) for v in value)
        if value and all(_flow_word(v) for v in value):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and tp is datetime:
        return _Timestamp(value)
    return value
