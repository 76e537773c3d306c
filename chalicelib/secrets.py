"""Credential references (`ssm:/path`, `secretsmanager:name`) resolved at run time, cached briefly.

The config holds references only; values are read from SSM Parameter Store (decrypted) or Secrets
Manager when first needed and kept in memory for `ttl` seconds. Values are never logged: errors
name the reference, not the value.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.aws.calls import error_code


class SecretError(Exception):
    """A reference that cannot be resolved (missing, not allowed, malformed); ``code`` is the
    AWS error code when AWS refused it."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code

    @property
    def not_found(self) -> bool:
        """The reference names a parameter or secret that does not exist."""
        return self.code in ("ParameterNotFound", "ResourceNotFoundException")


class Secrets:
    def __init__(
        self,
        ssm: Callable[[], Any],
        secretsmanager: Callable[[], Any],
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._ssm = ssm
        self._sm = secretsmanager
        self.ttl = ttl
        self.clock = clock
        self._values: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def resolve(self, ref: str) -> str:
        now = self.clock()
        with self._lock:
            hit = self._values.get(ref)
        if hit and now < hit[1]:
            return hit[0]
        value = self._fetch(ref)
        with self._lock:
            self._values[ref] = (value, now + self.ttl)
        return value

    def resolve_fields(self, settings: dict[str, Any], fields: tuple[str, ...] | list[str]) -> dict:
        """{field: value} for each credential field present in `settings`."""
        return {f: self.resolve(settings[f]) for f in fields if settings.get(f)}

    def _fetch(self, ref: str) -> str:
        kind, _, name = ref.partition(":")
        try:
            if kind == "ssm" and name:
                resp = self._ssm().get_parameter(Name=name, WithDecryption=True)
                return resp["Parameter"]["Value"]
            if kind == "secretsmanager" and name:
                return self._sm().get_secret_value(SecretId=name)["SecretString"]
        except Exception as exc:
            code = error_code(exc)
            raise SecretError(f"cannot read {ref}: {code}", code) from None
        raise SecretError(f"not a credential reference: {kind or ref!r}")


def default_secrets() -> Secrets:
    from chalicelib.aws.clients import client

    return Secrets(lambda: client("ssm"), lambda: client("secretsmanager"))
