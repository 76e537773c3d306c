"""The conversions' stack (two domains, a tracked link feeding Meta and TikTok, the app)."""

from tests.conversions.conftest import app_module, http, stack  # noqa: F401
