"""Rebound's stack on moto, in this process: provisioned from infra/template.yaml (as the tests
and the local stack do), with a few links applied through `chalicelib.links.plan`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

HOST = "go.localhost"
SLUG = "spring-sale"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)

# What the redirect Lambda would get from its stage (`local`: the stack's names) plus dummy keys.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "REBOUND_STAGE": "local",
    "REBOUND_LINK_CACHE_TTL": "30",  # the production default
}
DROP_ENV = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "REBOUND_LAKE_BUCKET")

DOMAIN = {
    "name": HOST,
    "root_url": "https://shop.example/",
    "not_found_url": "https://shop.example/missing",
    "consent": {"honor_gpc": True, "honor_dnt": True, "require_in": ["EU"]},
}
PLATFORMS = {
    "meta": {"pixel_id": "1234567890", "access_token": "ssm:/rebound/local/meta-token"},
    "tiktok": {"pixel_code": "C0DE1234", "access_token": "ssm:/rebound/local/tiktok-token"},
}
AUDIENCES = [
    {
        "id": "pricing-visitors",
        "match": {"tags": ["pricing"]},
        "window_days": 30,
        "send_to": ["meta", "tiktok"],
    }
]


def link(slug: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "domain": HOST,
        "slug": slug,
        "url": url,
        "redirect": 302,
        "mode": "redirect",
        "tags": [],
        "utm": {},
        "forward_query": True,
        "track_conversions": False,
        "rules": [],
        **extra,
    }


# The redirect under test is SLUG: rules, UTM, a click id, an audience (like examples/links.yaml).
LINKS = [
    link(
        SLUG,
        "https://shop.example/sale",
        campaign="spring",
        tags=["sale", "pricing"],
        utm={"source": "newsletter", "medium": "email", "campaign": "spring"},
        track_conversions=True,
        rules=[
            {"when": {"device": ["ios"]}, "url": "https://apps.apple.com/app/id1"},
            {
                "when": {"country": ["DE", "AT"], "language": ["de"]},
                "url": "https://shop.example/de/sale",
            },
        ],
    ),
    link("plain", "https://shop.example/plain"),
    link(
        "pricing",
        "https://shop.example/pricing",
        tags=["pricing"],
        split=[
            {"url": "https://shop.example/pricing?layout=a", "weight": 70},
            {"url": "https://shop.example/pricing?layout=b", "weight": 30},
        ],
    ),
]


@dataclass(frozen=True)
class Stack:
    outputs: dict[str, str]

    @property
    def names(self) -> Any:
        from chalicelib.aws.names import Names

        return Names.from_env()


@contextmanager
def environment(values: dict[str, str], drop: tuple[str, ...] = DROP_ENV) -> Iterator[None]:
    """Set and unset environment variables for the duration; put everything back afterwards."""
    saved = dict(os.environ)
    for key in drop:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def apply_links(links: list[dict[str, Any]] = LINKS, domain: dict[str, Any] | None = None) -> int:
    """Write the bench's domain, platforms, audience and links the way `rebound apply` does."""
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from chalicelib.links.plan import Specs, make_plan
    from chalicelib.links.store import ConfigStore

    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    specs = Specs(
        domains=[{**DOMAIN, **(domain or {})}],
        platforms=PLATFORMS,
        audiences=AUDIENCES,
        links=links,
    )
    plan = make_plan(specs, store.read_all())
    store.write(plan.writes())
    return len(plan.changes)


@contextmanager
def moto_stack(
    links: list[dict[str, Any]] = LINKS, domain: dict[str, Any] | None = None
) -> Iterator[Stack]:
    """A fresh emulated account with Rebound's stack and the bench's links, moto in-process;
    ``domain`` adds to the bench domain's settings (e.g. a ``conversion_secret``)."""
    from moto import mock_aws

    from chalicelib.aws.clients import reset_clients
    from infra.provision import local_environment, provision

    with environment(AWS_ENV):
        reset_clients()
        try:
            with mock_aws():
                outputs = provision()
                local_environment(outputs)
                apply_links(links, domain)
                yield Stack(outputs)
        finally:
            reset_clients()


def load_app() -> Any:
    """The project's app.py with a fresh redirect handler (its clients and cache made in this environment)."""
    from infra.provision import load_app as load

    module = load()
    module.redirect_handler.cache_clear()
    return module
