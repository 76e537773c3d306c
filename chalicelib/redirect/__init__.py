"""The redirect: a pure core (request facts -> visitor -> decision; no AWS, no pydantic) and,
in ``handler.py``, the I/O shell around it (the link read, the salt, the click published).

Typical use of the core, per request (``RedirectHandler.handle`` does this)::

    facts = RequestFacts.from_request(method=..., host=..., path=..., query=..., headers=..., source_ip=...)
    visitor = read_visitor(facts, site, salt=daily_salt)
    decision = decide(doc, site, facts, visitor, now, click_id=click_id, consume_click=...)
"""

from __future__ import annotations

from chalicelib.redirect import bots
from chalicelib.redirect.decision import Decision, choose_url, decide
from chalicelib.redirect.request import RequestFacts
from chalicelib.redirect.visitor import Visitor, read_visitor

__all__ = [
    "Decision",
    "RequestFacts",
    "Visitor",
    "choose_url",
    "decide",
    "read_visitor",
    "warm_up",
]


def warm_up(*, user_agents: bool = False) -> None:
    """Build the bot matcher now, instead of on the first request: call it at import time of
    the Lambda handler (the init phase runs at full CPU). The user-agent parser only with
    ``user_agents``: only links whose rules ask for device, OS or browser need it, on their
    first click, and an on-demand cold start would pay for it on every other link too."""
    bots.warm_up()
    if user_agents:
        from chalicelib.clicks.agent import warm_up as load_parser

        load_parser()
