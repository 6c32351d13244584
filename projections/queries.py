"""The stable read API over the projection tables (for the HTTP API, web pages and the CLI).

Every method returns plain JSON-able values (dict / list / str / int / bool / None); times are
integer µs UTC unless the field name ends in ``_day`` (``YYYY-MM-DD``, legal day in Asia/Shanghai).
Bad input raises a ``projections.errors`` type: ``BadCursor``, ``BadAsOf``, ``BadQuery`` (→ 400)
and ``UnknownCaseFile`` (→ 404). Pages return ``(items, next_cursor)``; ``next_cursor`` is
``None`` on the last page and is an opaque string otherwise.

This module only reads. The tables are written by ``projections.runner`` (exactly-once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, MetaData


class Projections:
    """Queries over the projection tables on ``engine``.

    ``metadata`` is the container's MetaData (unused except to share the engine's schema); the
    projection tables are defined on their own MetaData in ``projections.tables``.
    """

    def __init__(self, engine: Engine, metadata: MetaData | None = None) -> None:
        self.engine = engine
        self.metadata = metadata

    # ----------------------------------------------------------------- case file (案卷)
    def case_file(self, case_id: str) -> dict[str, Any]:
        """The case file as projected (up to the tracked position).

        Keys: ``case_id, kind, task_no, lead_agency, inspection_type, mode, year, status,
        party{uscc,name,...}, officers[{cert_no, person_id, name, agency_code, shown_at}],
        timeline[{n, position, type, actor, occurred_at, recorded_at, flags}], evidence[{evidence_id,
        evidence_type, sha256, size, media_type, source, capture, officers, lawful, admissible,
        post_decision, logged_at, n, in_decision_set}], decision_evidence[ids], reviews[...],
        decision, services[...], publication, alterations[...], deadlines[{kind, start, due, days, unit,
        calendar_version, met_at, status}], flags[{n, type, flag}], last_n, position``.
        Raises ``UnknownCaseFile``.
        """
        raise NotImplementedError

    def case_file_as_of(self, app: Any, case_id: str, *, n: int | None = None,
                        at: datetime | None = None) -> dict[str, Any]:
        """The case file rebuilt by replaying the case's entries from the ledger, up to entry
        ``n`` (inclusive) or up to the last entry with ``recorded_at <= at``. ``n`` and ``at`` are
        exclusive; with neither, the whole case. Raises ``BadAsOf`` and ``UnknownCaseFile``."""
        raise NotImplementedError

    # ----------------------------------------------------------------- public notices (双公示)
    def public_notices(self, *, q: str | None = None, agency: str | None = None, cursor: str | None = None,
                       limit: int = 20, now: datetime | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Visible notices (not past ``public_until`` at ``now``), newest first. Each item has only
        allow-listed ``cf_*`` fields plus the ledger fields (§2.1 L1/L2). A withdrawn notice shows
        ``withdrawal_reason`` and no content."""
        raise NotImplementedError

    def notice(self, case_id: str, *, now: datetime | None = None) -> dict[str, Any]:
        """One notice (also an expired or withdrawn one, with its status). Raises ``UnknownCaseFile``."""
        raise NotImplementedError

    def export_notices_csv(self, *, now: datetime | None = None) -> str:
        """Visible notices as CSV in 信用中国 column order (UTF-8, header row, ``\\r\\n``)."""
        raise NotImplementedError

    def export_notices_json(self, *, now: datetime | None = None) -> list[dict[str, Any]]:
        """Visible notices as a list of ordered dicts in 信用中国 column order."""
        raise NotImplementedError

    # ----------------------------------------------------------------- audit trail
    def audit_trail(self, *, actor: str | None = None, agency: str | None = None, case: str | None = None,
                    type: str | None = None, since: datetime | None = None,  # noqa: A002
                    until: datetime | None = None, cursor: str | None = None,
                    limit: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        """Entries in log order: ``position, leaf_index, case_id, n, type, actor, role, key_id,
        signature (valid|invalid|unknown_key|key_not_valid|wrong_actor|revoked), occurred_at,
        recorded_at, gap_us, flags, agency_code``. ``since``/``until`` filter ``recorded_at``."""
        raise NotImplementedError

    # ----------------------------------------------------------------- supervision
    def supervision_deadlines(self, now: datetime, *, horizon_days: int = 7,
                              agency: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """``{"overdue": [...], "upcoming": [...]}``: open deadlines past due at ``now``, and
        those due within ``horizon_days``."""
        raise NotImplementedError

    def inspection_counts(self, year: int, *, agency: str | None = None) -> list[dict[str, Any]]:
        """Per enterprise and agency: ``uscc, agency_code, year, count, cap, cap_version, over_cap``."""
        raise NotImplementedError

    def role_conflicts(self, *, agency: str | None = None) -> list[dict[str, Any]]:
        """Cases where one person held two roles R37 keeps apart."""
        raise NotImplementedError

    def feedback_by_code(self, *, year: int | None = None) -> list[dict[str, Any]]:
        """Enterprise feedback and complaints counted by ``prohibition_code`` (R20)."""
        raise NotImplementedError

    def officer_activity(self, *, year: int | None = None, agency: str | None = None) -> list[dict[str, Any]]:
        """Per officer: counts of what they did. Never a target or a quota (R20)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- statistics (R61)
    def annual_statistics(self, year: int, *, agency: str | None = None) -> dict[str, Any]:
        """Counts by agency, type, mode and outcome for ``year``, the change against ``year - 1``
        (``"inspections −44.2 %"``) and a reproducible ``replay_hash``."""
        raise NotImplementedError

    # ----------------------------------------------------------------- public verification page
    def inspection_public_facts(self, case_id: str) -> dict[str, Any]:
        """Facts of one inspection that anyone may see (no personal data)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- status
    def positions(self) -> dict[str, int]:
        """Tracked notification position per projection name."""
        raise NotImplementedError
