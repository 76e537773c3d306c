"""What a `mode: pixel` link's record carries, computed at apply time: the public ids of the
browser pixels of the platforms its audiences send to (the redirect renders them, see
``chalicelib.redirect.interstitial``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def pixels_for(
    platform_specs: Mapping[str, Mapping[str, Any]], send_to: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The non-secret browser-pixel ids of the platforms in ``send_to`` that have one.

    ``platform_specs`` is the config's ``platforms`` (name -> spec). What a link doc carries as
    ``pixels``: Meta ``pixel_id`` (+ the click event name, to match the server event), Google
    tag ids (GA4 ``G-…``, Ads ``AW-…``), TikTok ``pixel_code``, LinkedIn ``partner_id``,
    Pinterest ``tag_id``, Snapchat and Reddit ``pixel_id``.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(send_to)):
        spec = platform_specs.get(name) or {}
        pixel = _pixel(name, spec)
        if pixel:
            out[name] = pixel
    return out


def _pixel(name: str, spec: Mapping[str, Any]) -> dict[str, Any] | None:
    def text(key: str) -> str | None:
        value = spec.get(key)
        return str(value) if value not in (None, "") else None

    if name == "meta" and text("pixel_id"):
        event = text("page_view_event") or "PageView"
        return {"pixel_id": text("pixel_id"), "event": event}
    if name == "google":
        tags = [t for t in (text("ga4_measurement_id"), text("ads_tag_id")) if t]
        return {"tag_ids": tags} if tags else None
    if name == "tiktok" and text("pixel_code"):
        return {"pixel_code": text("pixel_code")}
    if name == "linkedin" and text("insight_partner_id"):
        return {"partner_id": text("insight_partner_id")}
    if name == "pinterest" and text("tag_id"):
        return {"tag_id": text("tag_id")}
    if name in ("snapchat", "reddit") and text("pixel_id"):
        return {"pixel_id": text("pixel_id")}
    return None
