"""Connection pools sized for the work (issue 16, item 4): settings, their refusals, the engine's pool."""

from __future__ import annotations

import pytest

from api.bootstrap import bootstrap
from api.settings import Settings
from ledger.errors import UsageError


def test_the_pool_follows_the_threads_unless_set() -> None:
    s = Settings.from_env({})
    assert (s.threads, s.pool_size, s.db_max_overflow) == (16, 20, 4)
    s = Settings.from_env({"CASELEDGER_THREADS": "8"})
    assert s.pool_size == 12
    s = Settings.from_env({"CASELEDGER_THREADS": "8", "CASELEDGER_DB_POOL_SIZE": "30",
                           "CASELEDGER_DB_MAX_OVERFLOW": "0"})
    assert (s.pool_size, s.db_max_overflow) == (30, 0)


@pytest.mark.parametrize("env", [{"CASELEDGER_THREADS": "many"}, {"CASELEDGER_DB_POOL_SIZE": "-3"},
                                 {"CASELEDGER_THREADS": "0"}, {"CASELEDGER_DB_POOL_SIZE": "0"},
                                 {"CASELEDGER_DB_MAX_OVERFLOW": "1.5"}])
def test_bad_pool_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        Settings.from_env(env)


def test_the_engine_has_the_configured_pool(db_url: str) -> None:
    c = bootstrap(Settings(db_url=db_url, threads=6, db_max_overflow=2))
    try:
        if c.engine.dialect.name == "postgresql":
            assert c.engine.pool.size() == 10  # type: ignore[attr-defined]
            assert c.engine.pool._max_overflow == 2  # type: ignore[attr-defined]
        else:  # SQLite keeps SQLAlchemy's own pool for a file database
            assert c.engine.pool.size() == 5  # type: ignore[attr-defined]
    finally:
        c.engine.dispose()
