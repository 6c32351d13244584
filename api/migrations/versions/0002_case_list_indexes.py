"""Indexes for ``caseledger cases`` and ``GET /v1/cases``: filters by status (stage) and year.

Revision ID: 0002
Revises: 0001

A projection-only change: ledger rows are not touched.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import inspect

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index proj_case_file by stage and by year (a fresh database got them from revision 0001 already)."""
    have = {ix["name"] for ix in inspect(op.get_bind()).get_indexes("proj_case_file")}
    for column in ("stage", "year"):
        if f"ix_proj_case_file_{column}" not in have:
            op.create_index(f"ix_proj_case_file_{column}", "proj_case_file", [column])
