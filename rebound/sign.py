"""`rebound sign`: the `Rebound-Signature` header for a conversion postback body.

For trying the postback by hand (`curl -H "Rebound-Signature: $(rebound --local sign ...)"`) and for
checking a merchant's own signing code: the same body and timestamp give the same header.
"""

from __future__ import annotations

from typing import Any

from chalicelib.aws.calls import error_code
from chalicelib.conversions.signature import HEADER, sign, verify
from chalicelib.links.host import normalize_host
from chalicelib.links.record import domain_key, get_doc
from chalicelib.secrets import SecretError

__all__ = ["HEADER", "SignError", "domain_secret", "header_for_domain", "sign", "verify"]


class SignError(Exception):
    """A user error: unknown domain, no secret configured, secret unreadable."""


def domain_secret(
    domain: str,
    *,
    dynamodb: Any = None,
    secrets: Any = None,
    links_table: str | None = None,
) -> str:
    """The value of ``domain``'s ``conversion_secret``, read from the store and SSM/Secrets Manager.

    Clients default to the environment's (``AWS_ENDPOINT_URL``, ``--local``, ``--stage``).
    """
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from chalicelib.secrets import default_secrets

    host = normalize_host(domain)
    if host is None:
        raise SignError(f"{domain!r} is not a valid domain name")
    dynamodb = dynamodb if dynamodb is not None else client("dynamodb")
    table = links_table or Names.from_env().links_table
    try:
        doc = get_doc(dynamodb, table, domain_key(host))
    except Exception as exc:
        code = error_code(exc)
        raise SignError(f"cannot read {table}: {code}") from None
    if doc is None:
        raise SignError(f"no domain {host} in {table}: is it in your links file, and applied?")
    ref = (doc.get("spec") or {}).get("conversion_secret")
    if not ref:
        raise SignError(f"domain {host} has no conversion_secret: add one to its entry")
    try:
        return (secrets or default_secrets()).resolve(ref)
    except SecretError as exc:
        raise SignError(str(exc)) from None


def header_for_domain(
    domain: str,
    body: bytes,
    *,
    t: int | None = None,
    dynamodb: Any = None,
    secrets: Any = None,
    links_table: str | None = None,
) -> str:
    """The ``Rebound-Signature`` value for ``body`` posted to ``domain`` (timestamp ``t``, default now).

    Raises SignError with a message for the user when the secret cannot be had.
    """
    secret = domain_secret(domain, dynamodb=dynamodb, secrets=secrets, links_table=links_table)
    return sign(body, secret, t)
