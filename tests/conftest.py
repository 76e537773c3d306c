"""Shared fixtures: moto in-process, provisioned from infra/template.yaml like the local stack
(once a session; each test gets a copy of the freshly provisioned account)."""

from __future__ import annotations

import copy
import copyreg
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib.aws.clients import reset_clients

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "REBOUND_STAGE": "local",
}


def use_test_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's account in us-east-1 and the `local` stage; nothing of the caller's AWS set-up."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "REBOUND_LAKE_BUCKET"):
        monkeypatch.delenv(key, raising=False)


@contextmanager
def _locks_copied_anew() -> Iterator[None]:
    """While it lasts, deepcopy gives a copied lock or condition a new, free one (moto's models
    hold some: an SQS queue's condition, an S3 key's lock); threading's own cannot be copied."""
    kinds = {
        type(threading.Lock()): threading.Lock,
        type(threading.RLock()): threading.RLock,
        threading.Condition: threading.Condition,
    }
    for kind, make in kinds.items():
        copyreg.pickle(kind, lambda _primitive, make=make: (make, ()))
    try:
        yield
    finally:
        for kind in kinds:
            copyreg.dispatch_table.pop(kind, None)


def _copy_of(backends: list[tuple[Any, str, str, Any]]) -> list[tuple[Any, str, str, Any]]:
    """moto's backends copied in one go, so what refers across services (the stack's resources)
    refers to the copies; the BackendDicts they belong to are moto's own, not copied."""
    with _locks_copied_anew():
        return copy.deepcopy(backends, {id(d): d for d, *_ in backends})


@pytest.fixture(scope="session")
def provisioned_stack() -> tuple[dict[str, str], list[tuple[Any, str, str, Any]]]:
    """Rebound's stack created once a session from the production template (parsing it and
    running CloudFormation takes about a second): its outputs, and moto's backends right after."""
    from moto import mock_aws
    from moto.core.base_backend import BackendDict

    from infra.provision import provision

    with pytest.MonkeyPatch.context() as monkeypatch:
        use_test_account(monkeypatch)
        reset_clients()
        with mock_aws():
            outputs = provision()
            backends = [
                (backend_dict, account, region, backend)
                for backend_dict in BackendDict._instances
                for account, region, backend in backend_dict.iter_backends()
            ]
            snapshot = _copy_of(backends)
        reset_clients()
    return outputs, snapshot


@contextmanager
def account_from(snapshot: list[tuple[Any, str, str, Any]]) -> Iterator[None]:
    """moto, in this process, holding a copy of the snapshot's account and nothing else."""
    from moto import mock_aws
    from moto.core.base_backend import BackendDict

    with mock_aws():
        BackendDict.reset()  # nothing of before, even inside another mock_aws
        for backend_dict, account, region, backend in _copy_of(snapshot):
            backend_dict[account][region] = backend
        yield


@pytest.fixture
def aws(monkeypatch, provisioned_stack):
    """A fresh emulated AWS account with Rebound's stack created from the production template:
    a copy of the session's freshly provisioned account, nothing of the tests before."""
    from infra.provision import local_environment

    outputs, snapshot = provisioned_stack
    use_test_account(monkeypatch)
    reset_clients()
    with account_from(snapshot):
        local_environment(outputs)
        yield dict(outputs)
    reset_clients()
    os.environ.pop("REBOUND_LAKE_BUCKET", None)
