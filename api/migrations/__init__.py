"""Alembic migrations: every table of the ledger's database is created and changed here (ADR 0006)."""
