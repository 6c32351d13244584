"""Time on both axes (issue 17, item 5): ``replay`` names its clock, as the installed command runs it.

``--recorded-by T`` is the case as the ledger stood at T; ``--occurred-by T`` the steps that had
happened by T. The demo's steps occurred in 2025 and were recorded when it ran, so the two clocks
give different answers; a time before the case's first entry says when it starts on both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

CASELEDGER = Path(sys.executable).parent / "caseledger"


@pytest.fixture
def ledger(db_url: str, tmp_path: Path) -> tuple[dict[str, str], str, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASELEDGER_")}
    env.update({"CASELEDGER_DATA_DIR": str(tmp_path / "data"), "CASELEDGER_DB": db_url})
    assert run(env, tmp_path, "demo", "--cases", "1").returncode == 0
    cases = json.loads(run(env, tmp_path, "cases", "--json").stdout)
    assert len(cases) == 1
    whole = json.loads(run(env, tmp_path, "replay", cases[0]["case_id"]).stdout)
    return env, cases[0]["case_id"], whole


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CASELEDGER), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180,
                          check=False)


def test_occurred_by_gives_the_steps_that_had_happened_and_recorded_by_the_ledger_as_it_stood(
        ledger: tuple[dict[str, str], str, dict[str, object]], tmp_path: Path) -> None:
    env, case, whole = ledger
    timeline = whole["timeline"]
    assert isinstance(timeline, list)
    third = timeline[2]
    occurred = datetime.fromtimestamp(third["occurred_at"] / 1e6, UTC).isoformat()
    r = run(env, tmp_path, "replay", case, "--occurred-by", occurred)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["as_of"]["basis"] == "occurred_at"
    assert doc["as_of"]["n"] == max(e["n"] for e in timeline if e["occurred_at"] <= third["occurred_at"])
    assert doc["as_of"]["n"] < len(timeline)
    # On the recorded clock that instant (2025) is before the ledger held anything of the case.
    before = run(env, tmp_path, "replay", case, "--recorded-by", occurred)
    assert before.returncode == 2
    assert "no entry recorded at or before" in before.stderr
    now = datetime.now(UTC).isoformat()
    at_now = json.loads(run(env, tmp_path, "replay", case, "--recorded-by", now).stdout)
    assert at_now["as_of"]["basis"] == "recorded_at"
    assert at_now["as_of"]["n"] == len(timeline)


def test_a_time_before_the_case_says_when_it_starts_on_both_clocks(
        ledger: tuple[dict[str, str], str, dict[str, object]], tmp_path: Path) -> None:
    env, case, whole = ledger
    first = whole["timeline"][0]  # type: ignore[index]
    occurred = datetime.fromtimestamp(first["occurred_at"] / 1e6, UTC).isoformat().replace("+00:00", "Z")
    recorded = datetime.fromtimestamp(first["recorded_at"] / 1e6, UTC).isoformat().replace("+00:00", "Z")
    for option in ("--occurred-by", "--recorded-by"):
        r = run(env, tmp_path, "replay", case, option, "2020-01-01T00:00+08:00")
        assert r.returncode == 2, r.stdout
        assert r.stdout == ""
        assert f"occurred at {occurred}" in r.stderr
        assert f"recorded at {recorded}" in r.stderr


@pytest.mark.parametrize(("argv", "message"), [
    (["--as-of", "2025-03-04T00:00+08:00"], "say which clock"),
    (["--occurred-by", "2025-03-04T00:00"], "no UTC offset"),
    (["--recorded-by", "yesterday"], "ISO-8601"),
    (["--entry", "0"], "--entry"),
    (["--entry", "2", "--occurred-by", "2025-03-04T00:00Z"], "not allowed with"),
], ids=["as-of with a time", "naive time", "not a time", "entry 0", "two points"])
def test_an_ambiguous_or_malformed_point_is_a_usage_error(
        argv: list[str], message: str, ledger: tuple[dict[str, str], str, dict[str, object]], tmp_path: Path) -> None:
    env, case, _ = ledger
    r = run(env, tmp_path, "replay", case, *argv)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_as_of_an_entry_number_still_means_that_entry(
        ledger: tuple[dict[str, str], str, dict[str, object]], tmp_path: Path) -> None:
    env, case, _ = ledger
    for argv in (["--as-of", "3"], ["--entry", "3"]):
        doc = json.loads(run(env, tmp_path, "replay", case, *argv).stdout)
        assert (doc["as_of"]["n"], doc["as_of"]["basis"]) == (3, "n")
