"""Annual statistics (R61): counts, year-over-year change, and a reproducible replay hash.

The ``statistics`` projection stores counters ``(year, agency, metric, dim, value) → count``.
A report for a year is those counters, plus the same for the year before, plus a hash that binds
them to the log they came from::

    replay_hash = SHA-256( canonical msgpack {v, year, agency, counts, log_size, log_root} )

``counts`` is the sorted list of ``[metric, dim, value, count]``; ``log_size``/``log_root`` are
the Merkle log size and root at the projection's position. Anyone holding the log can recompute
it with :func:`replay_report` (a fresh fold over the first ``log_size`` entries, no projection
tables involved) and compare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, MetaData, select

from ledger import encoding
from ledger.merkle_store import MerkleStore
from projections.projectors import STAR, StatsFold
from projections.source import Item, iter_log, log_size_at
from projections.tables import STAT

REPORT_VERSION = 1
#: Headline metrics for the year-over-year summary: (metric, label).
HEADLINES: tuple[tuple[str, str], ...] = (
    ("inspections", "inspections"), ("cases", "cases"), ("penalties", "penalties"), ("fines_fen", "fines"),
    ("publications", "publications"), ("withdrawals", "withdrawals"),
)
MINUS = "\u2212"


def fold_counts(items: Iterable[Item]) -> dict[tuple[int, str, str, str, str], int]:
    """Replay: the counters from scratch over ``items`` (log order)."""
    streams: dict[str, dict[str, Any]] = {}
    counts: dict[tuple[int, str, str, str, str], int] = {}

    def bump(year: int, agencies: Any, metric: str, dim: str, value: str, delta: int) -> None:
        for ag in (*agencies, STAR):
            k = (year, ag, metric, dim, value)
            counts[k] = counts.get(k, 0) + delta

    fold = StatsFold(streams.get, streams.__setitem__, bump)
    for it in items:
        fold.apply(it)
    return counts


def _nested(rows: Iterable[tuple[str, str, str, int]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric, dim, value, count in rows:
        m = out.setdefault(metric, {})
        if dim == "all":
            m["all"] = int(count)
        else:
            m.setdefault(dim, {})[value] = int(count)
    return out


def change_text(label: str, prev: int, cur: int) -> tuple[float | None, str]:
    """``("inspections", 1000, 558)`` → ``(-44.2, "inspections −44.2 %")``."""
    if prev == 0:
        return None, f"{label} n/a" if cur == 0 else f"{label} new"
    pct = round((cur - prev) * 100 / prev, 1)
    mag = f"{abs(pct):.1f}".removesuffix(".0")
    sign = "+" if pct > 0 else (MINUS if pct < 0 else "±")
    return pct, f"{label} {sign}{mag} %"


def report(year: int, agency: str, cur: list[tuple[str, str, str, int]], prev: list[tuple[str, str, str, int]],
           log_size: int, log_root: str, position: int) -> dict[str, Any]:
    counts, previous = _nested(cur), _nested(prev)
    change: dict[str, Any] = {}
    texts = []
    for metric, label in HEADLINES:
        a = int(previous.get(metric, {}).get("all", 0))
        b = int(counts.get(metric, {}).get("all", 0))
        pct, text = change_text(label, a, b)
        change[metric] = {"previous": a, "current": b, "percent": pct, "text": text}
        texts.append(text)
    rows = sorted((m, d, v, int(c)) for m, d, v, c in cur)
    canon = [list(r) for r in rows]
    flat = {(m if d == "all" else f"{m}.{d}.{v}"): c for m, d, v, c in rows}
    payload = {"v": REPORT_VERSION, "year": year, "agency": agency, "counts": canon,
               "log_size": log_size, "log_root": log_root}
    return {
        "year": year, "agency": agency, "counts": counts, "previous_year": year - 1, "previous": previous,
        "change": change, "summary": ", ".join(texts),
        "statistics": flat,
        "as_of": {"position": position, "log_size": log_size, "log_root": log_root},
        "replay_hash": hashlib.sha256(encoding.encode(payload)).hexdigest(),
    }


def log_root_at(conn: Connection, size: int) -> str:
    if size == 0:
        return ""
    return bytes(MerkleStore(MetaData()).root(conn, size)).hex()


def projected_rows(conn: Connection, year: int, agency: str) -> list[tuple[str, str, str, int]]:
    q = (select(STAT.c.metric, STAT.c.dim, STAT.c.value, STAT.c.count)
         .where(STAT.c.year == year, STAT.c.agency_code == agency))
    return [(r[0], r[1], r[2], int(r[3])) for r in conn.execute(q)]


def projected_report(conn: Connection, year: int, agency: str, position: int) -> dict[str, Any]:
    size = log_size_at(conn, position)
    return report(year, agency, projected_rows(conn, year, agency), projected_rows(conn, year - 1, agency),
                  size, log_root_at(conn, size), position)


def replay_report(conn: Connection, year: int, agency: str, position: int) -> dict[str, Any]:
    """The same report recomputed by replaying the log up to ``position`` (no projection tables)."""
    counts = fold_counts(iter_log(conn, 0, upto=position))

    def rows(y: int) -> list[tuple[str, str, str, int]]:
        return [(m, d, v, c) for (yy, ag, m, d, v), c in counts.items() if yy == y and ag == agency]

    size = log_size_at(conn, position)
    return report(year, agency, rows(year), rows(year - 1), size, log_root_at(conn, size), position)
