"""Whether a stage lets a platform's `endpoint` replace its API host.

An endpoint override receives the platform's credentials (access tokens, API secrets) with every
request, so whoever can apply config could collect them. A stage permits overrides only when its
functions' environment says so (`REBOUND_ALLOW_ENDPOINTS`, set per stage in .chalice/config.json);
without the variable only the local stage does. `rebound validate/plan/apply` refuse an endpoint
the target stage does not permit; the dispatcher checks again at run time before sending.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from chalicelib.aws.names import LOCAL_STAGE

ALLOW_ENDPOINTS_VAR = "REBOUND_ALLOW_ENDPOINTS"
_TRUE = ("1", "true", "yes", "on")


def _default(stage: str) -> bool:
    return stage == LOCAL_STAGE


def endpoints_allowed(env: Mapping[str, str] | None = None) -> bool:
    """Run time: does this function's stage permit endpoint overrides?"""
    env = os.environ if env is None else env
    value = env.get(ALLOW_ENDPOINTS_VAR)
    if value is None:
        return _default(env.get("REBOUND_STAGE", "dev"))
    return value.strip().lower() in _TRUE


def endpoint_permitted(endpoint: str | None, env: Mapping[str, str] | None = None) -> bool:
    """Run time: may credentials be sent to `endpoint` (None: the platform's own API host)?"""
    return endpoint is None or endpoints_allowed(env)


def stage_allows_endpoints(stage: str, chalice_config: Path | None = None) -> bool:
    """Apply time: what the stage's functions will decide, read from .chalice/config.json (the
    stage's environment_variables, then the app's); without it, the default (local only)."""
    path = chalice_config or Path(__file__).resolve().parents[2] / ".chalice" / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _default(stage)
    env = {
        **(config.get("environment_variables") or {}),
        **((config.get("stages") or {}).get(stage, {}).get("environment_variables") or {}),
    }
    return endpoints_allowed({"REBOUND_STAGE": stage, **env})
