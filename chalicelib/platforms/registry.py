"""The ad platforms Rebound sends to: their names, and each one's ``Platform`` by name.

This is the one list of platform names (the config model's ``platforms:`` keys are tested
against it). Adding a platform is its module (a ``Platform`` subclass and ``PLATFORM``, its one
instance), its tests and one line here. Modules are imported on first use, so a Lambda pays
only for the platforms it talks to.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.platforms.platform import Platform

MODULES = {
    "meta": "chalicelib.platforms.meta",
    "tiktok": "chalicelib.platforms.tiktok",
    "linkedin": "chalicelib.platforms.linkedin",
    "google": "chalicelib.platforms.google",
    "pinterest": "chalicelib.platforms.pinterest",
    "snapchat": "chalicelib.platforms.snapchat",
    "reddit": "chalicelib.platforms.reddit",
    "x": "chalicelib.platforms.x",
}
NAMES = tuple(MODULES)


def platform(name: str) -> Platform:
    """Platform ``name``; ``KeyError`` for an unknown platform."""
    try:
        module = MODULES[name]
    except KeyError:
        raise KeyError(f"unknown platform {name!r}; known: {', '.join(NAMES)}") from None
    found: Platform = importlib.import_module(module).PLATFORM
    return found
