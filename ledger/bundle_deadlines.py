"""Recompute a verified bundle's deadlines from the bundle alone (docs/spec/05-bundles.md §Deadlines).

Beside the standalone verifier (ledger/bundle.py) and, like it, only the standard library and the
ledger's pure modules. Every deadline an entry of the case records (a ``*_due`` field holding
``{start, days, unit, due, calendar_version}``) is recomputed from its start, length and unit with
the calendar its ``calendar_version`` names:

* ``calendar:<year>@<n>``: entry ``n`` of the calendar register, carried in the bundle (step 7.8);
* ``chinesecalendar-<v>``: the ``chinesecalendar`` package's data, which a bundle does not carry; it
  is used when that exact version is installed, and the deadline is reported ``not recomputed``
  otherwise.

A deadline recorded *pending* (``due`` nil, ``missing_year`` set) is computed with the latest
version of each year in the bundle, as the ledger's projections compute it. Counting follows
rulebook §0.3: the start day is not counted; a natural-day period ending on a rest day moves to
the next working day. Usage::

    python -m ledger.bundle_deadlines BUNDLE --trust KEYFILE [--json]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from ledger.bundle import VerifiedBundle
from ledger.bundle_cli import run_report
from ledger.chain import Entry

YEAR_ENTERED = "calendar.year_entered.v1"
_SATURDAY = 5


class _Unknown(Exception):
    """A day the available calendar data does not cover."""


def signed_years(calendar: Iterable[Entry]) -> dict[str, tuple[int, frozenset[date], frozenset[date]]]:
    """``calendar:<year>@<n>`` → (year, holidays, workdays) for each year entry of the register."""
    out = {}
    for e in calendar:
        if e.type == YEAR_ENTERED:
            b = e.body
            out[f"calendar:{b['year']}@{e.n}"] = (int(b["year"]), frozenset(map(date.fromisoformat, b["holidays"])),
                                                 frozenset(map(date.fromisoformat, b["workdays"])))
    return out


def _package(version: str) -> Callable[[date], bool] | None:
    try:
        import chinese_calendar  # noqa: PLC0415 - optional: a bundle does not carry the package's data
    except ImportError:
        return None
    if f"chinesecalendar-{chinese_calendar.__version__}" != version:
        return None

    def is_workday(d: date) -> bool:
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            raise _Unknown(d.isoformat()) from None

    return is_workday


def calendar_for(version: str, years: dict[str, Any]) -> tuple[Callable[[date], bool], list[str]]:
    """A workday test for the data ``version`` names (``+``-joined parts); the parts it lacks."""
    package, signed, missing = None, {}, []
    for part in filter(None, version.split("+")):
        if part in years:
            y = years[part]
            signed[y[0]] = y
        elif part.startswith("chinesecalendar-"):
            package = _package(part)
            missing += [part] if package is None else []
        else:
            missing.append(part)

    def is_workday(d: date) -> bool:
        y = signed.get(d.year)
        if y is not None:
            return d in y[2] or (d not in y[1] and d.weekday() < _SATURDAY)
        if package is None:
            raise _Unknown(d.isoformat())
        return package(d)

    return is_workday, missing


def recompute(start: date, days: int, unit: str, is_workday: Callable[[date], bool]) -> date:
    """The due day (rulebook §0.3); raises ``_Unknown`` for a day outside the data."""
    d = start
    if unit == "working_days":
        counted = 0
        while counted < days:
            d += timedelta(days=1)
            counted += is_workday(d)
        return d
    d = start + timedelta(days=days)
    while not is_workday(d):
        d += timedelta(days=1)
    return d


def _latest(years: dict[str, Any]) -> str:
    best: dict[int, tuple[int, str]] = {}
    for v, (year, _, _) in years.items():
        n = int(v.rsplit("@", 1)[1])
        if n > best.get(year, (0, ""))[0]:
            best[year] = (n, v)
    return "+".join(v for _, v in sorted(best.values(), key=lambda t: t[1]))


def _package_version(entries: Iterable[Entry]) -> str:
    """The package data the case's computed deadlines name (for its pending ones)."""
    for e in entries:
        for rec in e.body.values():
            v = rec.get("calendar_version") if isinstance(rec, dict) else None
            part = next((p for p in str(v or "").split("+") if p.startswith("chinesecalendar-")), None)
            if part:
                return part
    return "chinesecalendar-1.11.0"


def deadlines(vb: VerifiedBundle) -> list[dict[str, Any]]:
    """Each deadline of the case: recorded, recomputed, and whether they agree."""
    years, package_version = signed_years(vb.calendar), _package_version(vb.entries)
    out = []
    for e in vb.entries:
        for key, rec in sorted(e.body.items()):
            if not (key.endswith("_due") and key != "previous_due" and isinstance(rec, dict) and "days" in rec):
                continue
            pending = rec.get("due") is None
            version = f"{package_version}+{_latest(years)}" if pending else str(rec.get("calendar_version") or "")
            row = {"n": e.n, "type": e.type, "deadline": key[:-4], "start": rec["start"], "days": rec["days"],
                   "unit": rec["unit"], "recorded_due": rec.get("due"), "calendar_version": rec.get("calendar_version"),
                   "missing_year": rec.get("missing_year"), "recomputed_due": None, "status": ""}
            is_workday, missing = calendar_for(version, years)
            try:
                due = recompute(date.fromisoformat(rec["start"]), int(rec["days"]), str(rec["unit"]), is_workday)
            except _Unknown as u:
                row["status"] = f"not recomputed: no data for {u} (needs {', '.join(missing) or 'a calendar year'})"
            else:
                row["recomputed_due"] = due.isoformat()
                row["status"] = ("computed from the bundle (recorded pending)" if pending else
                                 "agrees" if due.isoformat() == rec.get("due") else "DISAGREES")
            out.append(row)
    return out


def text(rows: Sequence[dict[str, Any]]) -> str:
    """The deadlines as the bundle report's table."""
    lines = ["Deadlines and the calendar behind each (recomputed from the bundle)"]
    lines += [f"  n {r['n']:<3} {r['deadline']:<16} {r['start']} +{r['days']} {r['unit']:<13} "
              f"due {r['recorded_due'] or 'pending ' + str(r['missing_year'])} "
              f"[{r['calendar_version'] or '-'}] -> {r['recomputed_due'] or '-'}: {r['status']}" for r in rows]
    return "\n".join(lines if rows else [*lines, "  (the case records no deadline)"])


def _report(vb: VerifiedBundle, *, as_json: bool) -> tuple[str, int]:
    rows = deadlines(vb)
    out = json.dumps(rows, ensure_ascii=False) if as_json else text(rows)
    return out, 1 if any(r["status"] == "DISAGREES" for r in rows) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Verify the bundle, then print its deadlines; exit 1 if one disagrees or the bundle fails."""
    return run_report("bundle_deadlines", "Recompute a verified bundle's deadlines from the bundle alone.",
                      _report, argv)


if __name__ == "__main__":
    sys.exit(main())
