"""Every step id the code cites or raises exists in docs/spec/06-verification.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs/spec/06-verification.md").read_text(encoding="utf-8")
SPEC_IDS = set(re.findall(r"\*\*(\d+(?:\.\d+)+)\*\*", SPEC))
SOURCES = sorted((ROOT / "ledger").glob("*.py"))


def cited(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    ids: set[str] = set()
    for line in re.findall(r"#\s*Step ([^:]+):", text):
        ids.update(re.findall(r"\d+(?:\.\d+)+", line))
    for m in re.finditer(r'(?:Error|Failure)\(\s*"(\d+(?:\.\d+)+)"', text):
        ids.add(m.group(1))
    return ids


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_step_cited_in_code_is_in_the_spec(path: Path) -> None:
    missing = cited(path) - SPEC_IDS
    assert not missing, f"{path.name} cites steps not in spec 06: {sorted(missing)}"


def test_every_numbered_step_of_passes_1_and_5_is_cited_somewhere() -> None:
    all_cited = set().union(*(cited(p) for p in SOURCES))
    for sid in SPEC_IDS:
        if sid.split(".")[0] in {"1", "3", "4", "5", "7"}:
            covered = sid in all_cited or any(c.startswith(sid + ".") for c in all_cited)
            assert covered, f"spec step {sid} is not cited by any code"
