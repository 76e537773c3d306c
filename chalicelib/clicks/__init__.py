"""Clicks: the click id, the click record v1 the redirect puts on the stream, the stream contract
(``envelope``), publishing (``stream``) and the click index (``index``)."""

from __future__ import annotations

from chalicelib.clicks.event import build_click, click_envelope
from chalicelib.clicks.ids import click_id_time, is_click_id, new_click_id

__all__ = ["build_click", "click_envelope", "click_id_time", "is_click_id", "new_click_id"]
