"""Shared fixtures: moto in-process, provisioned from infra/template.yaml like the local stack."""

from __future__ import annotations

import os

import pytest

from chalicelib.aws.clients import reset_clients

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "REBOUND_STAGE": "local",
}


@pytest.fixture
def aws(monkeypatch):
    """A fresh emulated AWS account with Rebound's stack created from the production template."""
    from moto import mock_aws

    from infra.provision import local_environment, provision

    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "REBOUND_LAKE_BUCKET"):
        monkeypatch.delenv(key, raising=False)
    reset_clients()
    with mock_aws():
        outputs = provision()
        local_environment(outputs)
        yield outputs
    reset_clients()
    os.environ.pop("REBOUND_LAKE_BUCKET", None)
