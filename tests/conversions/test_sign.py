"""`rebound sign`'s functions: the header for a domain, from the store and SSM/Secrets Manager."""

from __future__ import annotations

import json

import pytest

from chalicelib.conversions.signature import verify
from rebound.sign import SignError, domain_secret, header_for_domain
from tests.conversions.conftest import OTHER_SECRET, SECRET, post

BODY = json.dumps({"event": "lead", "event_id": "cli-1"}).encode()


def test_the_header_for_a_domain_is_signed_with_its_secret(stack):
    header = header_for_domain("go.localhost", BODY, t=1_795_000_000)
    assert header.startswith("t=1795000000,v1=")
    assert verify(header, BODY, SECRET, now=1_795_000_000) == 1_795_000_000


def test_secrets_manager_references_work_and_hosts_are_normalised(stack):
    assert domain_secret("SHOP.localhost:8000") == OTHER_SECRET


def test_the_header_is_accepted_by_the_postback(http):
    header = header_for_domain("go.localhost", BODY)
    assert post(http, BODY, signature=header).status_code == 202


def test_a_domain_whose_secret_cannot_be_had_is_a_user_error(stack):
    for domain, message in (
        ("elsewhere.localhost", "no domain elsewhere.localhost"),
        ("nosecret.localhost", "has no conversion_secret"),
        ("unset.localhost", "cannot read ssm:/rebound/local/never-created: ParameterNotFound"),
        ("not a host", "not a valid domain name"),
    ):
        with pytest.raises(SignError, match=message):
            header_for_domain(domain, BODY)
