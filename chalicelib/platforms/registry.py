"""The destinations Rebound sends to: their names, and each one's ``Platform`` by name.

This is the one list of destination names (the config model's ``platforms:`` keys are tested
against it): the ad platforms (retargeting), the email tools (remarketing), and the webhooks,
each named ``webhook:<id>``. Adding one is its module (a ``Platform`` subclass and ``PLATFORM``,
its one instance), its tests and one line here. Modules are imported on first use, so a Lambda
pays only for the destinations it talks to.

Email tools and webhooks are the merchant's own systems (processors, not ad platforms): a
conversion reaches them whatever the click's ad consent, labelled with it (docs/remarketing.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from chalicelib.links.record import WEBHOOK_PREFIX

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
EMAIL_MODULES = {
    "klaviyo": "chalicelib.platforms.klaviyo",
    "omnisend": "chalicelib.platforms.omnisend",
    "brevo": "chalicelib.platforms.brevo",
    "kit": "chalicelib.platforms.kit",
    "activecampaign": "chalicelib.platforms.activecampaign",
    "mailchimp": "chalicelib.platforms.mailchimp",
    "hubspot": "chalicelib.platforms.hubspot",
}
AD_PLATFORMS = tuple(MODULES)
EMAIL_TOOLS = tuple(EMAIL_MODULES)
NAMES = AD_PLATFORMS + EMAIL_TOOLS
WEBHOOK_MODULE = "chalicelib.webhooks.destination"


def webhook_name(webhook_id: str) -> str:
    """The destination name of webhook ``webhook_id`` (ledger keys, outcomes, stats)."""
    return f"{WEBHOOK_PREFIX}{webhook_id}"


AD_PLATFORM, EMAIL_TOOL, WEBHOOK = "ad platform", "email tool", "webhook"


def kind_of(name: str) -> str:
    """What ``name`` is, as stats show it: ad platform, email tool or webhook."""
    if name.startswith(WEBHOOK_PREFIX):
        return WEBHOOK
    return EMAIL_TOOL if name in EMAIL_MODULES else AD_PLATFORM


def is_own_system(name: str) -> bool:
    """An email tool or a webhook: the merchant's own system, not an ad platform."""
    return name in EMAIL_MODULES or name.startswith(WEBHOOK_PREFIX)


def platform(name: str) -> Platform:
    """Platform ``name``; ``KeyError`` for an unknown platform."""
    try:
        if name.startswith(WEBHOOK_PREFIX):
            module = WEBHOOK_MODULE
        else:
            module = MODULES[name] if name in MODULES else EMAIL_MODULES[name]
    except KeyError:
        raise KeyError(f"unknown platform {name!r}; known: {', '.join(NAMES)}") from None
    found: Platform = importlib.import_module(module).PLATFORM
    return found
