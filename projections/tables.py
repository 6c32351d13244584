"""Projection tables: SQLAlchemy Core, on their own ``MetaData``, on the ledger's engine.

Every table belongs to exactly one projection (``TABLES[name]``) so ``rebuild NAME`` can drop and
recreate it alone; ``proj_tracking`` holds each projection's position in the notification log and
is updated in the same transaction as the projection's rows (exactly-once, see runner.py).
Tables whose name ends in ``_stream`` or ``_src`` are the projection's private working state
(what it must remember about a stream between batches); the others are what queries read.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

METADATA = MetaData()

TRACKING = Table(
    "proj_tracking", METADATA,
    Column("name", Text, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
)

#: The projections that could not project an entry: the notification ``position`` they stopped
#: before and why (escaped, shortened). Written by the runner in the transaction of the batch that
#: failed, deleted when the projection gets past it; read by ``/readyz`` and ``caseledger project``.
FAILURES = Table(
    "proj_failures", METADATA,
    Column("name", Text, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("error", Text, nullable=False),
)

# ------------------------------------------------------------------------- case_files
CASE_FILE = Table(
    "proj_case_file", METADATA,
    Column("case_id", Text, primary_key=True),
    Column("lead_agency", Text, index=True),
    Column("uscc", Text, index=True),
    Column("task_no", Text),
    Column("case_no", Text),
    Column("decision_no", Text),
    Column("year", Integer, index=True),  # `caseledger cases --year` (migration 0002)
    Column("stage", Text, index=True),  # `caseledger cases --status` (migration 0002)
    Column("last_n", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("doc", JSON, nullable=False),
)
DEADLINE = Table(
    "proj_deadline", METADATA,
    Column("case_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("set_n", Integer, primary_key=True, autoincrement=False),
    Column("agency_code", Text, index=True),
    Column("start_day", Text),
    Column("due_day", Text, index=True),  # NULL while the deadline waits for its calendar year
    Column("days", Integer),
    Column("unit", Text),
    Column("calendar_version", Text),
    Column("tracked", Boolean, nullable=False),
    Column("met_n", Integer),
    Column("met_day", Text),
    Column("late", Boolean),
    Column("void_n", Integer),
    Column("missing_year", Integer),  # set when the deadline was recorded pending (issue 14)
)
ROLE_CONFLICT = Table(
    "proj_role_conflict", METADATA,
    Column("case_id", Text, primary_key=True),
    Column("rule", Text, primary_key=True),
    Column("person", Text, primary_key=True),
    Column("agency_code", Text, index=True),
    Column("roles", JSON, nullable=False),
    Column("n", Integer, nullable=False),
)
REGISTER = Table(
    "proj_register", METADATA,
    Column("stream_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("name", Text),
    Column("agency_code", Text),
    Column("doc", JSON, nullable=False),
    Index("ix_proj_register_kind_key", "kind", "key"),
)

# ------------------------------------------------------------------------- public_notices
NOTICE = Table(
    "proj_notice", METADATA,
    Column("case_id", Text, primary_key=True),
    Column("agency_code", Text, index=True),
    Column("status", Text, nullable=False),
    Column("published_at", BigInteger, nullable=False, index=True),
    Column("public_until", Text),
    Column("decision_no", Text),
    Column("fields", JSON, nullable=False),
    Column("search", Text, nullable=False),
    Column("content_hash", Text),
    Column("redaction_map_hash", Text),
    Column("regime_version", Text),
    Column("calendar_version", Text),
    Column("event_id", Text, nullable=False),
    Column("withdrawal_reason", Text),
    Column("cause_event_id", Text),
    Column("n", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
)
NOTICE_VERSION = Table(
    "proj_notice_version", METADATA,
    Column("case_id", Text, primary_key=True),
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("event", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("fields", JSON),
    Column("content_hash", Text),
    Column("reason", Text),
    Column("event_id", Text, nullable=False),
)
NOTICE_SRC = Table(
    "proj_notice_src", METADATA,
    Column("case_id", Text, primary_key=True),
    Column("state", JSON, nullable=False),
)

# ------------------------------------------------------------------------- audit_trail
AUDIT = Table(
    "proj_audit", METADATA,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_index", BigInteger),
    Column("case_id", Text, nullable=False, index=True),
    Column("n", Integer, nullable=False),
    Column("type", Text, nullable=False, index=True),
    Column("actor", Text, nullable=False, index=True),
    Column("key_id", Text, nullable=False),
    Column("key_role", Text),
    Column("acting_as", Text),
    Column("key_status", Text, nullable=False),
    Column("public_key", Text),
    Column("entry_hash", Text, nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("recorded_at", BigInteger, index=True),
    Column("gap_us", BigInteger),
    Column("flags", Text, nullable=False),
    Column("agency_code", Text, index=True),
    Column("stream_kind", Text, nullable=False),
)
AUDIT_STREAM = Table(
    "proj_audit_stream", METADATA,
    Column("case_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("agency_code", Text),
)

# ------------------------------------------------------------------------- supervision
ENTERPRISE_YEAR = Table(
    "proj_enterprise_year", METADATA,
    Column("stream_id", Text, primary_key=True),
    Column("uscc", Text, nullable=False, index=True),
    Column("agency_code", Text, nullable=False),
    Column("year", Integer, nullable=False, index=True),
    Column("count", Integer, nullable=False),
    Column("cap", Integer),
    Column("cap_version", Integer),
    Column("over_cap", Boolean, nullable=False),
    Column("flags", JSON, nullable=False),
)
FEEDBACK = Table(
    "proj_feedback", METADATA,
    Column("key", Text, primary_key=True),
    Column("year", Integer, nullable=False),
    Column("agency_code", Text),
    Column("code", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("count", Integer, nullable=False),
)
OFFICER_ACTIVITY = Table(
    "proj_officer_activity", METADATA,
    Column("key", Text, primary_key=True),
    Column("officer", Text, nullable=False, index=True),
    Column("year", Integer, nullable=False),
    Column("agency_code", Text),
    Column("activity", Text, nullable=False),
    Column("count", Integer, nullable=False),
)
SUPERVISION_STREAM = Table(
    "proj_supervision_stream", METADATA,
    Column("case_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("agency_code", Text),
)

# ------------------------------------------------------------------------- statistics
STAT = Table(
    "proj_stat", METADATA,
    Column("key", Text, primary_key=True),
    Column("year", Integer, nullable=False, index=True),
    Column("agency_code", Text, nullable=False),
    Column("metric", Text, nullable=False),
    Column("dim", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
)
STAT_STREAM = Table(
    "proj_stat_stream", METADATA,
    Column("case_id", Text, primary_key=True),
    Column("state", JSON, nullable=False),
)

#: Projection name → its tables (tracking excluded).
TABLES: dict[str, tuple[Table, ...]] = {
    "case_files": (CASE_FILE, DEADLINE, ROLE_CONFLICT, REGISTER),
    "public_notices": (NOTICE, NOTICE_VERSION, NOTICE_SRC),
    "audit_trail": (AUDIT, AUDIT_STREAM),
    "supervision": (ENTERPRISE_YEAR, FEEDBACK, OFFICER_ACTIVITY, SUPERVISION_STREAM),
    "statistics": (STAT, STAT_STREAM),
}
