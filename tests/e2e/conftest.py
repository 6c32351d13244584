"""Fixtures for the HTTP tests: a seeded world per module, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import pg_base_url
from tests.e2e.world import World, build_world


def _pg_schema_url() -> Iterator[str]:
    base = pg_base_url()
    schema = "e2e_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One seeded world per backend for the whole session. Tests write into it only through the
    API, on tasks, enterprises-years and cases of their own; the seeded cases stay untouched."""
    tmp = tmp_path_factory.mktemp("world")
    if request.param == "sqlite":
        w = build_world(f"sqlite:///{tmp / 'ledger.db'}", tmp / "data")
        yield w
        w.container.engine.dispose()
        return
    gen = _pg_schema_url()
    url = next(gen)
    w = build_world(url, tmp / "data")
    try:
        yield w
    finally:
        w.container.engine.dispose()
        for _ in gen:
            pass


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with ``SQLITE_ONLY = True`` (browser and fuzzing runs) run once, on the SQLite
    world: their PostgreSQL variants are deselected, not skipped. The API tests cover PostgreSQL."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        module = getattr(item, "module", None)
        if callspec and callspec.params.get("world") == "postgres" and getattr(module, "SQLITE_ONLY", False):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
