"""Fake meta and tiktok on 127.0.0.1 for the dispatcher's tests (see scenario.py)."""

from __future__ import annotations

import pytest

from tests.platforms.conftest import FakePlatform


@pytest.fixture
def fakes():
    meta, tiktok = FakePlatform().start(), FakePlatform().start()
    meta.default = (200, b'{"events_received": 1}')
    tiktok.default = (200, b'{"code": 0, "message": "OK"}')
    yield meta, tiktok
    meta.stop()
    tiktok.stop()
