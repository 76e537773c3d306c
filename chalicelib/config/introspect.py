"""Walking the config model's fields: what the loader and the exporter need to know about the
pydantic classes beyond validating with them.

`unwrap` strips a field's annotation down to its type, `field_order` lists a model's keys as a
person reads them (unknown-key hints, the key order `rebound export` writes), `model_at` finds the
model that validates the mapping at a location (which keys a misspelt one could have meant).
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel

from chalicelib.config.yamldoc import Loc


def unwrap(tp: Any) -> Any:
    """Strip `Annotated[...]` and `X | None` down to X."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def field_order(model: type[BaseModel]) -> list[str]:
    """Field names as a person reads them: the model's own first, then inherited ones (a
    platform's `endpoint` and `dry_run`)."""
    inherited = {
        name
        for base in model.__mro__[1:]
        if isinstance(base, type) and issubclass(base, BaseModel)
        for name in base.model_fields
    }
    own = [n for n in model.model_fields if n not in inherited]
    return own + [n for n in model.model_fields if n in inherited]


def model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc` under `root`, or None."""
    tp: Any = root
    for part in loc:
        tp = unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.rebuild_annotation()
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None
