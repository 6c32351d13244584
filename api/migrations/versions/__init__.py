"""Alembic revisions, one file each, applied in order by ``api.schema.upgrade``."""
