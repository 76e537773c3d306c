"""Checks between the entities of links.yaml: a link's domain is configured, an audience's
`send_to` names a configured platform and its `match` names links and domains of this file, and
no domain, link or audience is defined twice.

`reference_problems` works on raw (possibly invalid) data, looking only at the values that are
valid, so that the loader reports these problems in the same pass as field errors, each with its
position; `Config` runs it itself unless the caller says (`REFERENCES_CHECKED`) that it does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from chalicelib.config.values import PLATFORM_NAMES, Host, LinkRef, Slug
from chalicelib.config.yamldoc import Loc

# Validation context flag: the caller (the loader) reports cross-references itself, with positions.
REFERENCES_CHECKED = "references_checked"


@dataclass(frozen=True)
class Problem:
    """A cross-reference problem at `loc`; `{where}` in the message stands for `see`."""

    loc: Loc
    message: str
    see: Loc | None = None

    def render(self, where: Callable[[Loc], str]) -> str:
        if self.see is None:
            return self.message
        return self.message.replace("{where}", where(self.see))


_HOST = TypeAdapter(Host)
_SLUG = TypeAdapter(Slug)
_LINK_REF = TypeAdapter(LinkRef)


def _valid(adapter: TypeAdapter[Any], value: Any) -> Any:
    """The validated value, or None: field errors are reported by the model, not here."""
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _entries(data: Mapping[str, Any], section: str) -> list[tuple[int, Mapping[str, Any]]]:
    items = data.get(section)
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, Mapping)]


def _strings(value: Any) -> list[tuple[int, Any]]:
    return list(enumerate(value)) if isinstance(value, list) else []


def _first_seen(
    problems: list[Problem],
    seen: dict[Any, int],
    key: Any,
    loc: tuple[str, int, str],
    message: str,
) -> None:
    """Remember where ``key`` was first defined (``loc`` is (section, index, field)); a second
    definition is a problem whose ``{where}`` points at the first."""
    section, index, name = loc
    if key in seen:
        problems.append(Problem(loc, message, (section, seen[key], name)))
    else:
        seen[key] = index


def reference_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Problems between entities: unknown or duplicate domains, links, audiences, platforms.

    Works on raw (possibly invalid) data, looking only at the values that are valid, so that these
    problems are found in the same pass as field errors.
    """
    problems: list[Problem] = []

    hosts: dict[str, int] = {}
    for i, domain in _entries(data, "domains"):
        host = _valid(_HOST, domain.get("name"))
        if host is None:
            continue
        _first_seen(
            problems, hosts, host, ("domains", i, "name"),
            f"duplicate domain {host}: already defined at {{where}}",
        )  # fmt: skip

    platforms = data.get("platforms")
    configured = (
        {n for n, cfg in platforms.items() if cfg is not None}
        if isinstance(platforms, Mapping)
        else set()
    )

    links: dict[tuple[str, str], int] = {}
    for i, link in _entries(data, "links"):
        host = _valid(_HOST, link.get("domain"))
        if host is not None and host not in hosts:
            known = ", ".join(sorted(hosts)) or "none"
            problems.append(
                Problem(
                    ("links", i, "domain"),
                    f"unknown domain {host}: add it under `domains:` (defined: {known})",
                )
            )
        slug = _valid(_SLUG, link.get("slug"))
        if host is None or slug is None:
            continue
        _first_seen(
            problems, links, (host, slug.lower()), ("links", i, "slug"),
            f"duplicate link {host}/{slug}: {{where}} has the same domain and slug "
            "(slugs are matched case-insensitively)",
        )  # fmt: skip

    ids: dict[str, int] = {}
    for i, audience in _entries(data, "audiences"):
        audience_id = _valid(_SLUG, audience.get("id"))
        if audience_id is not None:
            _first_seen(
                problems, ids, audience_id, ("audiences", i, "id"),
                f"duplicate audience {audience_id}: already defined at {{where}}",
            )  # fmt: skip
        for j, name in _strings(audience.get("send_to")):
            if name in PLATFORM_NAMES and name not in configured:
                problems.append(
                    Problem(
                        ("audiences", i, "send_to", j),
                        f"platform {name} is not configured under `platforms:`",
                    )
                )
        match = audience.get("match")
        if not isinstance(match, Mapping):
            continue
        for j, ref in _strings(match.get("links")):
            ref = _valid(_LINK_REF, ref)
            if ref is not None:
                host, _, slug = ref.partition("/")
                if (host, slug.lower()) not in links:
                    problems.append(
                        Problem(
                            ("audiences", i, "match", "links", j),
                            f"no link {ref} in this file",
                        )
                    )
        for j, host in _strings(match.get("domains")):
            host = _valid(_HOST, host)
            if host is not None and host not in hosts:
                problems.append(
                    Problem(
                        ("audiences", i, "match", "domains", j),
                        f"unknown domain {host}: add it under `domains:`",
                    )
                )
    webhook_ids: dict[str, int] = {}
    for i, webhook in _entries(data, "webhooks"):
        webhook_id = _valid(_SLUG, webhook.get("id"))
        if webhook_id is not None:
            _first_seen(
                problems, webhook_ids, webhook_id, ("webhooks", i, "id"),
                f"duplicate webhook {webhook_id}: already defined at {{where}}",
            )  # fmt: skip
    return problems
