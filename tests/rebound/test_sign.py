"""`rebound sign`'s functions: the header for a domain, from the store and SSM/Secrets Manager."""

from __future__ import annotations

import json

import pytest

from chalicelib.conversions.signature import verify
from rebound.sign import SignError, domain_secret, header_for_domain
from tests.conversions import conftest as conversions_fixtures
from tests.conversions.conftest import OTHER_SECRET, SECRET, post

# The stack with the conversion domains and their secrets, and the app's HTTP client.
stack, app_module, http = (
    conversions_fixtures.stack,
    conversions_fixtures.app_module,
    conversions_fixtures.http,
)

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


# --- the command ------------------------------------------------------------------------------


def _cli(*args: str, input: bytes | None = None):
    from click.testing import CliRunner

    from rebound.cli import main

    return CliRunner().invoke(main, list(args), input=input)


def test_rebound_sign_prints_a_header_the_postback_accepts(http, tmp_path):
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY)

    result = _cli("sign", "--domain", "go.localhost", str(body_file))

    assert result.exit_code == 0, result.output
    header = result.output.strip()
    assert header.startswith("t=") and ",v1=" in header
    assert post(http, BODY, signature=header).status_code == 202


def test_rebound_sign_reads_stdin_and_signs_at_a_given_time(stack):
    result = _cli("sign", "--domain", "go.localhost", "--t", "1795000000", "-", input=BODY)

    assert result.exit_code == 0, result.output
    assert verify(result.output.strip(), BODY, SECRET, now=1_795_000_000) == 1_795_000_000


def test_rebound_sign_errors_are_one_line_and_exit_1(stack, tmp_path):
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY)
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * (64 * 1024 + 1))

    unknown = _cli("sign", "--domain", "elsewhere.localhost", str(body_file))
    too_big = _cli("sign", "--domain", "go.localhost", str(big))
    missing = _cli("sign", "--domain", "go.localhost", str(tmp_path / "nope.json"))
    no_domain = _cli("sign", str(body_file))

    assert unknown.exit_code == 1 and "no domain elsewhere.localhost" in unknown.output
    assert too_big.exit_code == 1 and "at most 64 KiB" in too_big.output
    assert missing.exit_code == 2 and "nope.json" in missing.output
    assert no_domain.exit_code == 2 and "--domain" in no_domain.output
    for result in (unknown, too_big, missing, no_domain):
        assert "Traceback" not in result.output
