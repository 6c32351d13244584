"""Fixtures for the pure-domain tests."""

from __future__ import annotations

import pytest

try:
    from enforcement_world import World
except ImportError:  # pragma: no cover - package-style import
    from tests.unit.domain.enforcement_world import World


@pytest.fixture
def world() -> World:
    return World()
