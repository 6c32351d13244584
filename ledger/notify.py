"""The PostgreSQL ``NOTIFY`` channel a ledger's commits are announced on (issue 16, item 3).

PostgreSQL channels are database-wide, while a ledger lives in one schema: two ledgers in one
database (tests run one schema per test; a deployment may keep a staging ledger beside the
production one) must not wake each other's followers. The channel is therefore named after the
schema the ledger's connection resolves to: ``ledger_events`` in ``public`` (eventsourcing's own
name, so its subscribers keep working there), else ``ledger_events_`` and the first 16 hex digits
of the schema name's SHA-256 (any schema name, and always a valid identifier within 63 bytes).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

BASE_CHANNEL = "ledger_events"


def channel_for_schema(schema: str) -> str:
    """The channel name for a ledger in ``schema``."""
    if schema == "public":
        return BASE_CHANNEL
    return f"{BASE_CHANNEL}_{hashlib.sha256(schema.encode()).hexdigest()[:16]}"


def channel_for(engine: Engine) -> str:
    """The channel of the ledger on ``engine`` (its ``current_schema()``); ``ledger_events`` off PostgreSQL."""
    if engine.dialect.name != "postgresql":
        return BASE_CHANNEL
    with engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    return channel_for_schema(str(schema or "public"))
