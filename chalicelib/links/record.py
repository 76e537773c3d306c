"""The shape of what `apply` writes and the redirect reads: defined once, here.

Plain Python only (no pydantic, no boto3): the redirect Lambda imports this on its cold path.

The config table holds one item per config entity, keyed by ``pk``:

- ``domain#<host>``               a domain (spec as in links.yaml)
- ``link#<host>#<slug lower>``    a link, with everything a redirect needs denormalised into it
                                  (the domain's fallbacks and consent, the audiences it feeds),
                                  so a redirect is exactly one GetItem
- ``platform#<name>``             a platform's settings (credential *references* only)
- ``audience#<id>``               an audience
- ``webhook#<id>``                a webhook (its URL and secret *reference*)

Each item is ``{pk, kind, version, doc}``: ``version`` (a number) is bumped on every write and
checked on every write (optimistic concurrency); ``doc`` is a JSON string so that any value the
config allows survives DynamoDB unchanged (no float/Decimal surprises) and the redirect decodes it
with one ``json.loads``.

A link ``doc`` is::

    {"spec": {...the link as in links.yaml, defaults filled in...},
     "site": {"name", "root_url", "not_found_url", "expired_url", "consent": {"honor_gpc", "honor_dnt", "require_in": [ISO-2...], "unknown_country", "limited_data_use"}},
     "audiences": [{"id": "...", "send_to": ["meta", ...]}],
     "webhooks": [{"id", "events", "personal_data"}]}   (only when a webhook matches)

A domain ``doc`` is ``{"spec": {...}, "site": {...same as above...}}``; platform and audience docs are
``{"spec": {...}}``, and so are webhook docs.
"""

from __future__ import annotations

import json
from typing import Any

KIND_DOMAIN = "domain"
KIND_LINK = "link"
KIND_PLATFORM = "platform"
KIND_AUDIENCE = "audience"
KIND_WEBHOOK = "webhook"
KINDS = (KIND_DOMAIN, KIND_PLATFORM, KIND_AUDIENCE, KIND_WEBHOOK, KIND_LINK)

# Countries where `require_in: [EU]` asks for consent: the EEA (EU 27 + Iceland, Liechtenstein,
# Norway) and the United Kingdom.
EEA_UK = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
        "GB",
    ]
)
REGIONS = {"EU": EEA_UK, "EEA": EEA_UK}


def domain_key(host: str) -> str:
    return f"domain#{host.lower()}"


def link_key(host: str, slug: str) -> str:
    return f"link#{host.lower()}#{slug.lower()}"


def platform_key(name: str) -> str:
    return f"platform#{name}"


def audience_key(audience_id: str) -> str:
    return f"audience#{audience_id}"


# A webhook's destination name (the click's `platforms`, ledger keys, outcomes): webhook:<id>.
WEBHOOK_PREFIX = "webhook:"


def webhook_key(webhook_id: str) -> str:
    return f"webhook#{webhook_id}"


def expand_regions(codes: list[str]) -> list[str]:
    """`[EU, CH]` -> the sorted ISO-2 codes it stands for."""
    out: set[str] = set()
    for code in codes:
        out |= REGIONS.get(code.upper(), {code.upper()})
    return sorted(out)


def site_of(domain_spec: dict[str, Any]) -> dict[str, Any]:
    """What a redirect needs to know about its domain."""
    consent = domain_spec.get("consent") or {}
    return {
        "name": domain_spec["name"],
        "root_url": domain_spec.get("root_url"),
        "not_found_url": domain_spec.get("not_found_url"),
        "expired_url": domain_spec.get("expired_url"),
        "consent": {
            "honor_gpc": bool(consent.get("honor_gpc", True)),
            "honor_dnt": bool(consent.get("honor_dnt", False)),
            "require_in": expand_regions(list(consent.get("require_in") or [])),
            # Fails closed: only an explicit `allow` lets a visitor of unknown country through.
            "unknown_country": "allow" if consent.get("unknown_country") == "allow" else "deny",
            "limited_data_use": bool(consent.get("limited_data_use", False)),
        },
    }


def to_item(pk: str, kind: str, doc: dict[str, Any], version: int) -> dict[str, Any]:
    """A DynamoDB low-level item (AttributeValue form)."""
    return {
        "pk": {"S": pk},
        "kind": {"S": kind},
        "version": {"N": str(version)},
        "doc": {"S": dump_doc(doc)},
    }


def from_item(item: dict[str, Any]) -> tuple[str, str, dict[str, Any], int]:
    """(pk, kind, doc, version) from a low-level DynamoDB item."""
    return (
        item["pk"]["S"],
        item["kind"]["S"],
        json.loads(item["doc"]["S"]),
        int(item["version"]["N"]),
    )


def get_doc(dynamodb: Any, table: str, pk: str) -> dict[str, Any] | None:
    """The ``doc`` of one item, decoded, or None when there is no such item: one GetItem (a
    low-level client; its errors propagate)."""
    item = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": pk}}, ProjectionExpression="doc"
    ).get("Item")
    return json.loads(item["doc"]["S"]) if item else None


def dump_doc(doc: dict[str, Any]) -> str:
    # Sorted keys: the same doc always serialises to the same string, so diffs are exact.
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
