"""Which audiences a click feeds, from the config: the single source of truth for membership.

An audience's ``match`` rules (tags, campaigns, domains, links) are evaluated with the very
function `rebound apply` uses to fill each link's ``audiences`` (``plan.audience_matches``), on
the link as the click recorded it (domain, slug, campaign, tags at click time). A conversion or a
platform outcome names only its link, so its campaign and tags come from the link's clicks in the
same hour, else from the live config.

Not the click's ``platforms``: that list says which platforms were sent an event, not for which
audience (two audiences can share a platform), and it is empty for a visitor who denied consent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.links.plan import audience_matches, is_tier
from chalicelib.links.record import KIND_AUDIENCE, KIND_LINK

DEFAULT_WINDOW_DAYS = 30


def link_id(domain: str | None, slug: str | None) -> str | None:
    """How the stats name a link: ``go.example.com/spring-sale`` (slugs match case-insensitively)."""
    if not domain or not slug:
        return None
    return f"{domain.lower()}/{slug.lower()}"


@dataclass(frozen=True)
class Catalog:
    """The audiences and links of the live config, as plain specs."""

    audiences: tuple[dict[str, Any], ...] = ()
    links: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # link id -> spec

    @classmethod
    def from_live(cls, live: Mapping[str, Any]) -> Catalog:
        """From ``ConfigStore.read_all()``: pk -> LiveItem (kind, doc)."""
        audiences = []
        links = {}
        for pk in sorted(live):
            item = live[pk]
            spec = (item.doc or {}).get("spec") or {}
            if item.kind == KIND_AUDIENCE and spec.get("id"):
                audiences.append(spec)
            elif item.kind == KIND_LINK and (key := link_id(spec.get("domain"), spec.get("slug"))):
                links[key] = spec
        return cls(tuple(audiences), links)

    @classmethod
    def from_table(cls, dynamodb: Any, links_table: str) -> Catalog:
        """Read from the links table (one Scan through ``ConfigStore``)."""
        from chalicelib.links.store import ConfigStore

        return cls.from_live(ConfigStore(dynamodb, links_table).read_all())

    @classmethod
    def of(cls, audiences: Iterable[dict[str, Any]] = (), links: Iterable[dict[str, Any]] = ()):
        """From specs as in links.yaml (tests, benchmarks)."""
        by_id = {key: dict(x) for x in links if (key := link_id(x["domain"], x["slug"]))}
        return cls(tuple(audiences), by_id)

    def audience(self, audience_id: str) -> dict[str, Any] | None:
        return next((a for a in self.audiences if a["id"] == audience_id), None)

    def tiers(self) -> list[str]:
        """The ids of the engagement tiers (``min_clicks`` > 1 or ``exclude_converted``)."""
        return [a["id"] for a in self.audiences if is_tier(a)]

    def window_days(self, audience_id: str) -> int:
        spec = self.audience(audience_id) or {}
        return int(spec.get("window_days") or DEFAULT_WINDOW_DAYS)

    def audiences_for(
        self, domain: str, slug: str, campaign: str | None, tags: Iterable[str] | None
    ) -> list[str]:
        """The ids of the audiences a click on this link (as recorded) feeds."""
        link = {"domain": domain, "slug": slug, "campaign": campaign, "tags": list(tags or [])}
        return [a["id"] for a in self.audiences if audience_matches(a, link)]

    def link_attributes(self, link: str) -> tuple[str | None, list[str]] | None:
        """(campaign, tags) of a configured link, or None."""
        spec = self.links.get(link)
        if spec is None:
            return None
        return spec.get("campaign"), list(spec.get("tags") or [])

    def feeding(self, audience_id: str) -> list[str]:
        """The configured links that feed an audience (ids, sorted)."""
        spec = self.audience(audience_id)
        if spec is None:
            return []
        return sorted(k for k, link in self.links.items() if audience_matches(spec, link))
