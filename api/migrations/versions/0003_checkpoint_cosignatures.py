"""Witness cosignatures of checkpoints: the ``checkpoint_cosignatures`` table (issue 19).

Revision ID: 0003
Revises: 0002

One row per (checkpoint, witness key): the C2SP ``cosignature/v1`` line a witness returned for a
checkpoint, verified before it is stored, appended to the note when it is served or bundled. The
checkpoints and every ledger row are untouched.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import inspect

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``checkpoint_cosignatures`` as the code defines it (ledger/merkle_store.py)."""
    from api.schema import code_metadata  # noqa: PLC0415 - the table as the code defines it

    bind = op.get_bind()
    if "checkpoint_cosignatures" not in inspect(bind).get_table_names():
        code_metadata().tables["checkpoint_cosignatures"].create(bind, checkfirst=False)
