"""Connection pools sized for the work (issue 16, item 4).

eventsourcing-sqlalchemy creates the engine with SQLAlchemy's default pool (5 connections and 10
overflow). An HTTP worker runs up to ``threads`` requests at once, each holding at most one
connection at a time, so with the default pool a burst of writers that hold their connections
while they wait for the log's lock leaves the other requests - reads included - waiting for a
connection: they wait for a lock they do not need. ``PooledLedgerFactory`` builds the engine with
the pool the deployment asked for (``api.settings.Settings.db_pool_size`` and
``db_max_overflow``, passed in the application's environment as ``CASELEDGER_POOL_SIZE`` and
``CASELEDGER_POOL_OVERFLOW``); ``docs/operations`` explains the sizing.
"""

from __future__ import annotations

from typing import Any

from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore

from ledger.store import LedgerFactory

POOL_SIZE = "CASELEDGER_POOL_SIZE"
POOL_OVERFLOW = "CASELEDGER_POOL_OVERFLOW"
POOL_TIMEOUT = "CASELEDGER_POOL_TIMEOUT"


class PooledLedgerFactory(LedgerFactory):
    """``LedgerFactory`` whose engine has the pool given in the environment (PostgreSQL; SQLite keeps its own)."""

    def __init__(self, env: Any) -> None:
        url = str(env.get("SQLALCHEMY_URL") or "")
        kwargs: dict[str, Any] = {}
        if url.startswith("postgresql"):
            for var, key in ((POOL_SIZE, "pool_size"), (POOL_OVERFLOW, "max_overflow")):
                raw = env.get(var)
                if raw:
                    kwargs[key] = int(raw)
            raw = env.get(POOL_TIMEOUT)
            if raw:
                kwargs["pool_timeout"] = float(raw)
        if kwargs:
            self.datastore_class = _datastore_with(kwargs)
        super().__init__(env)


def _datastore_with(kwargs: dict[str, Any]) -> type[SQLAlchemyDatastore]:
    """eventsourcing-sqlalchemy's datastore, creating its engine with ``kwargs``."""

    class PooledDatastore(SQLAlchemyDatastore):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**{**kwargs, **kw})

    return PooledDatastore
