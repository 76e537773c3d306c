"""The visitor's device, OS and browser, from the User-Agent (and CloudFront's device headers).

ua-parser is imported and its regexes loaded on first use (or by ``warm_up``), not at import:
that keeps ``import chalicelib.redirect`` cheap on a cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

IOS, ANDROID, MOBILE, TABLET, DESKTOP = "ios", "android", "mobile", "tablet", "desktop"
DEVICE_CLASSES = (IOS, ANDROID, MOBILE, TABLET, DESKTOP)

# Longer user agents are cut before parsing: bounds regex work on hostile input.
MAX_UA_CHARS = 512

_MOBILE_OS = frozenset(
    {"windows phone", "blackberry os", "kaios", "firefox os", "symbian os", "tizen", "sailfish"}
)
_PHONE_FAMILIES = frozenset({"iphone", "ipod", "generic smartphone", "generic feature phone"})


@dataclass(frozen=True)
class Agent:
    """``form`` is mobile, tablet or desktop; ``platform`` is ios, android or None."""

    form: str
    platform: str | None
    os: str | None
    browser: str | None

    @property
    def classes(self) -> frozenset[str]:
        """Every device class this visitor matches: an iPhone is both ``ios`` and ``mobile``."""
        return frozenset(c for c in (self.form, self.platform) if c)


def parse_agent(user_agent: str, headers: Mapping[str, str] | None = None) -> Agent:
    """Device form factor, platform, OS and browser family.

    CloudFront's ``CloudFront-Is-*-Viewer`` headers, when present, take precedence over the UA.
    """
    agent = _parse_ua(user_agent[:MAX_UA_CHARS])
    if not headers:
        return agent
    form, platform = agent.form, agent.platform
    flags = {
        name: headers.get(f"cloudfront-is-{name}-viewer")
        for name in ("tablet", "mobile", "smarttv", "desktop", "ios", "android")
    }
    is_true = {name: (value or "").strip().lower() == "true" for name, value in flags.items()}
    if any(flags[name] is not None for name in ("tablet", "mobile", "smarttv", "desktop")):
        if is_true["tablet"]:
            form = TABLET
        elif is_true["mobile"]:
            form = MOBILE
        elif is_true["desktop"] or is_true["smarttv"]:
            form = DESKTOP
    if flags["ios"] is not None or flags["android"] is not None:
        platform = IOS if is_true["ios"] else ANDROID if is_true["android"] else None
    return Agent(form=form, platform=platform, os=agent.os, browser=agent.browser)


@lru_cache(maxsize=4096)
def _parse_ua(user_agent: str) -> Agent:
    if not user_agent:
        return Agent(form=DESKTOP, platform=None, os=None, browser=None)
    from ua_parser import parse  # deferred: see the module docstring

    try:
        result = parse(user_agent)
    except Exception:  # a parser bug must never break a redirect
        return Agent(form=DESKTOP, platform=None, os=None, browser=None)
    os_family = _family(result.os)
    browser = _family(result.user_agent)
    device = result.device
    device_family = (device.family if device else "") or ""
    brand = ((device.brand if device else "") or "").lower()
    os_lower = (os_family or "").lower()

    platform: str | None = None
    if os_lower in ("ios", "ipados") or device_family in ("iPhone", "iPad", "iPod"):
        platform = IOS
    elif os_lower == "android":
        platform = ANDROID

    if device_family == "iPad" or "tablet" in brand or "tablet" in device_family.lower():
        form = TABLET
    elif platform == ANDROID and "Mobile" not in user_agent:
        form = TABLET  # Android tablets omit "Mobile" from the UA (Google's own guidance)
    elif (
        platform is not None
        or os_lower in _MOBILE_OS
        or device_family.lower() in _PHONE_FAMILIES
        or "Mobi" in user_agent
    ):
        form = MOBILE
    else:
        form = DESKTOP
    return Agent(form=form, platform=platform, os=os_family, browser=browser)


def _family(part: object) -> str | None:
    family = getattr(part, "family", None)
    return family if family and family != "Other" else None


def warm_up() -> None:
    """Load ua-parser's regexes now (call from the Lambda's init phase, where CPU is free)."""
    _parse_ua(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )
