"""Is this request a person clicking, or a machine fetching?

Bots are redirected as usual but recorded with ``is_bot``, never counted as human clicks, never
sent to ad platforms and never consume ``max_clicks``.

Sources, checked in this order:

1. no User-Agent at all -> ``no-user-agent``;
2. our own list of link-preview fetchers, email scanners and monitors (case-insensitive), checked
   first so that their names are the familiar ones;
3. the maintained ``crawler-user-agents`` list (case-sensitive, as that list is written), which
   also covers HTTP libraries (curl, wget, python-requests, Go-http-client, ...): nobody clicks
   a marketing link through curl, and feeding scripted hits to ad audiences or click counts is
   exactly what a marketer does not want. They are still redirected normally;
4. ``HEAD`` -> ``head-request`` (browsers never send HEAD for a click).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from chalicelib.redirect.agent import MAX_UA_CHARS

# (name, pattern): link previews, email security scanners and uptime monitors.
EXTRA_BOTS: tuple[tuple[str, str], ...] = (
    ("facebookexternalhit", r"facebookexternalhit"),
    ("Facebot", r"Facebot"),
    ("Slack-ImgProxy", r"Slack-ImgProxy"),
    ("Slackbot", r"Slackbot"),
    ("Twitterbot", r"Twitterbot"),
    ("WhatsApp", r"WhatsApp"),
    ("LinkedInBot", r"LinkedInBot"),
    ("Discordbot", r"Discordbot"),
    ("TelegramBot", r"TelegramBot"),
    ("SkypeUriPreview", r"SkypeUriPreview"),  # also Microsoft Teams' previews
    ("Applebot", r"Applebot"),
    ("Mimecast", r"Mimecast"),
    ("Proofpoint", r"Proofpoint"),
    ("Barracuda", r"Barracuda"),
    ("UptimeRobot", r"UptimeRobot"),
    ("Pingdom", r"Pingdom"),
    ("StatusCake", r"StatusCake"),
    ("BetterUptime", r"Better ?Uptime"),
    ("Site24x7", r"Site24x7"),
    ("MicrosoftPreview", r"MicrosoftPreview|Microsoft Office Existence Discovery"),
    ("Iframely", r"Iframely"),
    ("Embedly", r"Embedly"),
    ("Pinterestbot", r"Pinterestbot"),
    ("redditbot", r"redditbot"),
    ("Mastodon", r"\bMastodon/"),
    ("Bluesky", r"Bluesky Cardyb"),
)

# Entries of the maintained list that match real browsers and would hide human clicks.
# "AP3A.240617.008" is an Android 15 build id seen in genuine Instagram in-app browsers.
EXCLUDED_PATTERNS = frozenset({r"AP3A\.240617\.008"})

NO_USER_AGENT = "no-user-agent"
HEAD_REQUEST = "head-request"
_CHUNK = 25


@dataclass(frozen=True)
class BotVerdict:
    is_bot: bool
    name: str | None


HUMAN = BotVerdict(False, None)


def detect_bot(user_agent: str, method: str = "GET") -> BotVerdict:
    """Whether this request comes from a bot, and a short stable name for it."""
    ua = user_agent.strip()
    if not ua:
        return BotVerdict(True, NO_USER_AGENT)
    name = bot_name_for(ua[:MAX_UA_CHARS])
    if name:
        return BotVerdict(True, name)
    if method.upper() == "HEAD":
        return BotVerdict(True, HEAD_REQUEST)
    return HUMAN


@lru_cache(maxsize=4096)
def bot_name_for(user_agent: str) -> str | None:
    """The bot's name if the user agent is a known bot, else None."""
    for chunk in _chunks():
        if chunk.regex.search(user_agent):
            return chunk.name_of(user_agent)
    return None


@dataclass(frozen=True)
class _Chunk:
    """~25 patterns as one alternation: Python's regex engine is fast on those, and far slower
    on one huge alternation or with a capturing group per pattern (measured: 0.3 vs 5 ms a UA)."""

    regex: re.Pattern[str]
    members: tuple[tuple[str, str], ...]  # (name, pattern)
    flags: int

    def name_of(self, user_agent: str) -> str | None:
        # Rare (bots only): which member matched? The leftmost match wins, as in the
        # alternation itself: "TelegramBot (like TwitterBot)" is TelegramBot.
        found = []
        for order, (name, pattern) in enumerate(self.members):
            match = _single(pattern, self.flags).search(user_agent)
            if match:
                found.append((match.start(), order, name))
        return min(found)[2] if found else None


@lru_cache(maxsize=1)
def _chunks() -> list[_Chunk]:
    from crawleruseragents import CRAWLER_USER_AGENTS_DATA  # deferred: loads a JSON file

    listed = [
        (name_from_pattern(entry["pattern"]), entry["pattern"])
        for entry in CRAWLER_USER_AGENTS_DATA
        if entry.get("pattern") and entry["pattern"] not in EXCLUDED_PATTERNS
    ]
    groups = [(EXTRA_BOTS, re.IGNORECASE)]
    groups += [(tuple(listed[i : i + _CHUNK]), 0) for i in range(0, len(listed), _CHUNK)]
    return [
        _Chunk(re.compile("|".join(f"(?:{p})" for _, p in members), flags), members, flags)
        for members, flags in groups
    ]


@cache
def _single(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def name_from_pattern(pattern: str) -> str:
    """A readable, stable name from a list pattern: ``Googlebot\\/`` -> ``Googlebot``,
    ``[wW]get`` -> ``wget``, ``Ahrefs(Bot|SiteAudit)`` -> ``AhrefsBot``.

    Reads the pattern as literal text, taking the first alternative of every choice and the
    first character of every class; anchors, quantifiers and shorthand classes drop out.
    """
    out: list[str] = []
    depth = 0
    skip_from: int | None = None  # inside a group past its first alternative: skip until it closes
    i = 0
    while i < len(pattern):
        char = pattern[i]
        text = ""
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            text = "" if escaped in ("d", "s", "w", "D", "S", "W", "b", "B") else escaped
            i += 2
        elif char == "[":
            end = pattern.find("]", i + 2)
            end = len(pattern) if end < 0 else end
            body = pattern[i + 1 : end]
            text = " " if body.startswith(("\\s", "^")) else body.lstrip("\\")[:1].lower()
            i = end + 1
        elif char == "{":
            end = pattern.find("}", i)
            i = len(pattern) if end < 0 else end + 1
        else:
            i += 1
            if char == "(":
                depth += 1
            elif char == ")":
                if skip_from == depth:
                    skip_from = None
                depth -= 1
            elif char == "|":
                if depth <= 0:
                    break
                skip_from = skip_from or depth
            elif char not in "^$*+?":
                text = char
        if skip_from is None:
            out.append(text)
    name = " ".join("".join(out).split()).strip(" /;:!.-_")
    while name.endswith(")") and name.count(")") > name.count("("):
        name = name[:-1]
    return name[:40] or "bot"


def warm_up() -> None:
    """Compile the patterns now (call from the Lambda's init phase)."""
    _chunks()
