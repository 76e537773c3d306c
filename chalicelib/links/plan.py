"""From a config (as spec dicts) and the live store to a plan: creates, updates, deletes.

Pure: no AWS, no pydantic. The stored docs are *derived* from specs here (a link's doc carries its
domain's fallbacks and consent and the audiences it feeds), so a change to a domain or an audience
shows up as updates to the links it touches, with the field that changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.links.pixels import pixels_for
from chalicelib.links.record import (
    KIND_AUDIENCE,
    KIND_DOMAIN,
    KIND_LINK,
    KIND_PLATFORM,
    KIND_WEBHOOK,
    KINDS,
    audience_key,
    domain_key,
    link_key,
    platform_key,
    site_of,
    webhook_key,
)
from chalicelib.links.store import LiveItem, Write


@dataclass(frozen=True)
class Specs:
    """A whole config as plain spec dicts (the shape of links.yaml)."""

    domains: list[dict[str, Any]] = field(default_factory=list)
    platforms: dict[str, dict[str, Any]] = field(default_factory=dict)
    audiences: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: Any) -> Specs:
        """From a loaded `chalicelib.config` model (duck-typed: this module stays pydantic-free)."""
        return cls(
            domains=[d.spec() for d in config.domains],
            platforms=config.platform_specs(),
            audiences=[a.spec() for a in config.audiences],
            links=[x.spec() for x in config.links],
            webhooks=[w.spec() for w in config.webhooks],
        )

    @classmethod
    def from_live(cls, live: dict[str, LiveItem]) -> Specs:
        by_kind: dict[str, list[LiveItem]] = {k: [] for k in KINDS}
        for item in sorted(live.values(), key=lambda i: i.pk):
            by_kind.setdefault(item.kind, []).append(item)
        return cls(
            domains=[i.doc["spec"] for i in by_kind[KIND_DOMAIN]],
            platforms={i.pk.split("#", 1)[1]: i.doc["spec"] for i in by_kind[KIND_PLATFORM]},
            audiences=[i.doc["spec"] for i in by_kind[KIND_AUDIENCE]],
            links=[i.doc["spec"] for i in by_kind[KIND_LINK]],
            webhooks=[i.doc["spec"] for i in by_kind[KIND_WEBHOOK]],
        )


@dataclass(frozen=True)
class FieldDiff:
    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete
    pk: str
    kind: str
    label: str  # what a person calls it: "go.localhost/spring-sale", "meta", ...
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    version: int | None  # the live version this change was planned against
    diffs: tuple[FieldDiff, ...] = ()
    # A link's domain (pk, version) as planned: the link embeds its site, so it is written only
    # while the domain is still what it was planned against.
    guard: tuple[str, int | None] | None = None

    def write(self) -> Write:
        return Write(
            self.pk, self.kind, self.after, self.version, previous=self.before, guard=self.guard
        )


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        return not self.changes

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def writes(self) -> list[Write]:
        return [c.write() for c in self.changes]


def is_tier(audience: dict[str, Any]) -> bool:
    """An engagement tier (``min_clicks`` > 1 or ``exclude_converted``): the dispatcher sends its
    event once, when a visitor qualifies (``dispatch/tiers.py``), not at every click."""
    return int(audience.get("min_clicks") or 1) > 1 or bool(audience.get("exclude_converted"))


def audience_matches(audience: dict[str, Any], link: dict[str, Any]) -> bool:
    """Every criterion given in `match` must hold; within one criterion, any listed value will do."""
    match = audience.get("match") or {}
    checks = []
    if "tags" in match:
        checks.append(bool(set(match["tags"]) & set(link.get("tags") or [])))
    if "campaigns" in match:
        checks.append(link.get("campaign") in set(match["campaigns"]))
    if "domains" in match:
        checks.append(link["domain"].lower() in {d.lower() for d in match["domains"]})
    if "links" in match:
        me = f"{link['domain']}/{link['slug']}".lower()
        checks.append(me in {ref.lower() for ref in match["links"]})
    return bool(checks) and all(checks)


def desired_docs(specs: Specs) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """pk -> (kind, label, doc) for every item the specs call for."""
    out: dict[str, tuple[str, str, dict[str, Any]]] = {}
    sites = {}
    for d in specs.domains:
        site = site_of(d)
        sites[d["name"].lower()] = site
        out[domain_key(d["name"])] = (KIND_DOMAIN, d["name"], {"spec": d, "site": site})
    for name, p in sorted(specs.platforms.items()):
        out[platform_key(name)] = (KIND_PLATFORM, name, {"spec": p})
    for a in specs.audiences:
        out[audience_key(a["id"])] = (KIND_AUDIENCE, a["id"], {"spec": a})
    for w in specs.webhooks:
        out[webhook_key(w["id"])] = (KIND_WEBHOOK, f"webhook {w['id']}", {"spec": w})
    for link in specs.links:
        audiences = [  # by id: the doc does not depend on the order of the file (or export)
            {"id": a["id"], "send_to": list(a.get("send_to") or [])}
            for a in sorted(specs.audiences, key=lambda a: a["id"])
            if audience_matches(a, link)
        ]
        doc = {
            "spec": link,
            "site": sites.get(link["domain"].lower()) or site_of({"name": link["domain"]}),
            "audiences": audiences,
        }
        webhooks = [  # the redirect queues `webhook:<id>` for a click (clicks.event.platforms_for)
            {
                "id": w["id"],
                "events": list(w["events"]),
                # the postback puts the plain email in the stream only for a webhook that asks
                "personal_data": w.get("personal_data") or "hashed",
            }
            for w in sorted(specs.webhooks, key=lambda w: w["id"])
            if not w.get("match") or audience_matches(w, link)
        ]
        if webhooks:  # absent when none: the docs of a config without webhooks do not change
            doc["webhooks"] = webhooks
        if link.get("mode") == "pixel":
            # The browser pixels' public ids, so the interstitial needs no other read. Not for
            # an engagement tier's platforms: a pixel fires at every visit, a tier's event once.
            tiers = {a["id"] for a in specs.audiences if is_tier(a)}
            send_to = [name for a in audiences if a["id"] not in tiers for name in a["send_to"]]
            doc["pixels"] = pixels_for(specs.platforms, send_to)
        label = f"{link['domain']}/{link['slug']}"
        out[link_key(link["domain"], link["slug"])] = (KIND_LINK, label, doc)
    return out


def merge_unmanaged(file_specs: Specs, live: dict[str, LiveItem]) -> Specs:
    """Without --prune, what the store has and the file does not name stays as it is."""
    live_specs = Specs.from_live(live)
    domains = {d["name"].lower() for d in file_specs.domains}
    audiences = {a["id"] for a in file_specs.audiences}
    links = {(x["domain"].lower(), x["slug"].lower()) for x in file_specs.links}
    return Specs(
        domains=file_specs.domains
        + [d for d in live_specs.domains if d["name"].lower() not in domains],
        platforms={**live_specs.platforms, **file_specs.platforms},
        audiences=file_specs.audiences
        + [a for a in live_specs.audiences if a["id"] not in audiences],
        links=file_specs.links
        + [x for x in live_specs.links if (x["domain"].lower(), x["slug"].lower()) not in links],
        webhooks=file_specs.webhooks
        + [w for w in live_specs.webhooks if w["id"] not in {f["id"] for f in file_specs.webhooks}],
    )


def make_plan(file_specs: Specs, live: dict[str, LiveItem], prune: bool = False) -> Plan:
    specs = file_specs if prune else merge_unmanaged(file_specs, live)
    desired = desired_docs(specs)
    changes: list[Change] = []
    for pk, (kind, label, doc) in desired.items():
        current = live.get(pk)
        if current is None:
            changes.append(Change("create", pk, kind, label, None, doc, None))
        elif current.doc != doc:
            diffs = tuple(diff_docs(current.doc, doc))
            changes.append(
                Change("update", pk, kind, label, current.doc, doc, current.version, diffs)
            )
    for pk, current in live.items():
        if pk not in desired:
            label = _label(current)
            changes.append(
                Change("delete", pk, current.kind, label, current.doc, None, current.version)
            )
    changes = _guard_links(changes, live)
    order = {k: i for i, k in enumerate(KINDS)}
    # Creates parents first, deletes children first: the store never has a link without its domain
    # even between two transactions.
    changes.sort(
        key=lambda c: (
            c.action == "delete",
            order.get(c.kind, 9) * (-1 if c.action == "delete" else 1),
            c.label,
        )
    )
    return Plan(tuple(changes))


def _guard_links(changes: list[Change], live: dict[str, LiveItem]) -> list[Change]:
    """Each link create or update carries its domain's version as this plan leaves it."""
    domains: dict[str, int | None] = {
        pk: i.version for pk, i in live.items() if i.kind == KIND_DOMAIN
    }
    for c in changes:
        if c.kind == KIND_DOMAIN:
            domains[c.pk] = None if c.after is None else (c.version or 0) + 1
    out = []
    for c in changes:
        if c.kind == KIND_LINK and c.after is not None:
            pk = domain_key(c.after["spec"]["domain"])
            c = replace(c, guard=(pk, domains.get(pk)))
        out.append(c)
    return out


def _label(item: LiveItem) -> str:
    spec = item.doc.get("spec") or {}
    if item.kind == KIND_LINK:
        return f"{spec.get('domain')}/{spec.get('slug')}"
    return str(spec.get("name") or spec.get("id") or item.pk.split("#", 1)[-1])


def diff_docs(before: Any, after: Any, path: str = "") -> list[FieldDiff]:
    """Field-level differences; the `spec.` prefix is dropped so paths read like links.yaml."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[FieldDiff] = []
        for key in sorted(set(before) | set(after), key=str):
            sub = key if not path else f"{path}.{key}"
            if path == "" and key == "spec":
                sub = ""
            if key not in before:
                out.append(FieldDiff(sub, None, after[key]))
            elif key not in after:
                out.append(FieldDiff(sub, before[key], None))
            else:
                out.extend(diff_docs(before[key], after[key], sub))
        return out
    if before != after:
        return [FieldDiff(path, before, after)]
    return []
