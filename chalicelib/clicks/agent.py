"""The visitor's device, OS and browser, from the User-Agent (and CloudFront's device headers).

Two callers: the archiver, which fills the click record's ``device``, ``os`` and ``browser`` from
the stream envelope; and the redirect, only for a link whose rules ask for them. So a redirect
Lambda whose links have no such rule never loads ua-parser: building its user-agent and OS regex
sets costs about 50 ms of a cold start. Its device set (633 patterns, the most costly to build:
about 80 ms and 10 MB) is built only for a user agent whose OS it cannot tell, since for the
others the OS and the agent's own tokens ("iPad", "Mobile", "Tablet") decide the form factor.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any, NamedTuple

IOS, ANDROID, MOBILE, TABLET, DESKTOP = "ios", "android", "mobile", "tablet", "desktop"
DEVICE_CLASSES = (IOS, ANDROID, MOBILE, TABLET, DESKTOP)

# Longer user agents are cut before parsing: bounds regex work on hostile input.
MAX_UA_CHARS = 512

_MOBILE_OS = frozenset(
    {"windows phone", "blackberry os", "kaios", "firefox os", "symbian os", "tizen", "sailfish"}
)
_PHONE_FAMILIES = frozenset({"iphone", "ipod", "generic smartphone", "generic feature phone"})


# CloudFront's device headers (lower case): they take precedence over the user agent.
_HINTS = {
    name: f"cloudfront-is-{name}-viewer"
    for name in ("tablet", "mobile", "smarttv", "desktop", "ios", "android")
}
HINT_HEADERS = tuple(_HINTS.values())


def device_hints(headers: Mapping[str, str]) -> dict[str, str]:
    """The CloudFront device headers among ``headers`` (lower-case names), as ``parse_agent``
    takes them: what the stream envelope carries for the archiver."""
    return {name: headers[name] for name in HINT_HEADERS if name in headers}


class Agent(NamedTuple):
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
    flags = {name: headers.get(header) for name, header in _HINTS.items()}
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


@cache
def _resolvers() -> tuple[Any, Any]:
    """ua-parser's Rust resolver for user agent and OS, and the device matchers (not built)."""
    from ua_parser import load_lazy_builtins
    from ua_parser.regex import Resolver

    ua, os, devices = load_lazy_builtins()
    return Resolver((ua, os, [])), devices


@cache
def _device_resolver() -> Any:
    from ua_parser.regex import Resolver

    return Resolver(([], [], _resolvers()[1]))


def _device(user_agent: str) -> tuple[str, str]:
    """ua-parser's device family and brand (lower case), or empty strings."""
    from ua_parser.core import Domain

    try:
        device = _device_resolver()(user_agent, Domain.DEVICE).device
    except Exception:  # a parser bug must never break a redirect
        return "", ""
    if device is None:
        return "", ""
    return (device.family or "").lower(), (device.brand or "").lower()


@lru_cache(maxsize=4096)
def _parse_ua(user_agent: str) -> Agent:
    if not user_agent:
        return Agent(form=DESKTOP, platform=None, os=None, browser=None)
    from ua_parser.core import Domain

    try:
        result = _resolvers()[0](user_agent, Domain.USER_AGENT | Domain.OS)
    except Exception:  # a parser bug must never break a redirect
        return Agent(form=DESKTOP, platform=None, os=None, browser=None)
    os_family = _family(result.os)
    browser = _family(result.user_agent)
    os_lower = (os_family or "").lower()
    # The device set only where the OS leaves the device unknown (feature phones, consoles, TVs).
    device_family, brand = _device(user_agent) if os_family is None else ("", "")
    lowered = user_agent.lower()

    platform: str | None = None
    if os_lower in ("ios", "ipados") or device_family in ("iphone", "ipad", "ipod"):
        platform = IOS
    elif os_lower == "android":
        platform = ANDROID

    if (
        (platform == IOS and "ipad" in lowered)
        or device_family == "ipad"
        or "tablet" in lowered
        or "tablet" in brand
        or "tablet" in device_family
    ):
        form = TABLET
    elif platform == ANDROID and "Mobile" not in user_agent:
        form = TABLET  # Android tablets omit "Mobile" from the UA (Google's own guidance)
    elif (
        platform is not None
        or os_lower in _MOBILE_OS
        or device_family in _PHONE_FAMILIES
        or "Mobi" in user_agent
        or "midp" in lowered  # J2ME feature phones
    ):
        form = MOBILE
    else:
        form = DESKTOP
    return Agent(form=form, platform=platform, os=os_family, browser=browser)


def _family(part: object) -> str | None:
    family = getattr(part, "family", None)
    return family if family and family != "Other" else None


def warm_up() -> None:
    """Load ua-parser and build its user-agent and OS regex sets now."""
    _parse_ua(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )
