"""Which AWS a command talks to: the environment's, or the running local stack (`--local`)."""

from __future__ import annotations

import os
import socket

from chalicelib.aws.names import LOCAL_STAGE

LOCAL_REGION = "us-east-1"


def aws_port() -> int:
    return int(os.environ.get("REBOUND_AWS_PORT", "4566"))


def local_endpoint() -> str:
    return f"http://127.0.0.1:{aws_port()}"


def use_local(env: dict[str, str] | None = None) -> None:
    """Point boto3 at the local stack's embedded AWS (dummy credentials, the `local` stage)."""
    env = os.environ if env is None else env
    env["AWS_ENDPOINT_URL"] = local_endpoint()
    env["AWS_ACCESS_KEY_ID"] = "testing"
    env["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - the emulator's dummy credentials
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    env["AWS_REGION"] = env.get("AWS_REGION") or LOCAL_REGION
    env["REBOUND_STAGE"] = LOCAL_STAGE


def local_stack_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", aws_port()), timeout=0.5):
            return True
    except OSError:
        return False
