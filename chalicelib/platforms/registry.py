"""Platform name → adapter module. Adding a platform is one module, its tests and one line here.

Modules are imported on first use, so a Lambda pays only for the platforms it talks to.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from chalicelib.platforms.event import PlatformEvent, Rejected
from chalicelib.platforms.http import HttpRequest, Outcome

_MODULES = {
    "meta": "chalicelib.platforms.meta",
    "tiktok": "chalicelib.platforms.tiktok",
    "linkedin": "chalicelib.platforms.linkedin",
    "google": "chalicelib.platforms.google",
    "pinterest": "chalicelib.platforms.pinterest",
    "snapchat": "chalicelib.platforms.snapchat",
    "reddit": "chalicelib.platforms.reddit",
}
NAMES = tuple(_MODULES)


class Adapter(Protocol):
    """The shape every platform module has."""

    NAME: str
    MAX_BATCH: int
    MAX_AGE: timedelta
    SECRET_FIELDS: tuple[str, ...]
    """Settings fields whose resolved values the caller passes in ``secrets``."""

    def build_requests(
        self,
        events: Sequence[PlatformEvent],
        settings: Mapping[str, Any],
        secrets: Mapping[str, str],
        now: datetime,
    ) -> tuple[list[HttpRequest], list[Rejected]]:
        """Exact requests for the valid events (batched), and the events refused, with why."""
        ...

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """What the platform's answer means: ok, retry or permanent."""
        ...


def adapter(name: str) -> Adapter:
    """The adapter module of platform ``name``; ``KeyError`` for an unknown platform."""
    try:
        module = _MODULES[name]
    except KeyError:
        raise KeyError(f"unknown platform {name!r}; known: {', '.join(NAMES)}") from None
    return cast(Adapter, importlib.import_module(module))
