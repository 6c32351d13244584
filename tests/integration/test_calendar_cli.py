"""`caseledger calendar add FILE` and `calendar show [YEAR]` as a user runs them (issue 14).

The 2027 file is TEST DATA (tests/fixtures/calendar-2027.TEST-DATA.json), not the official notice."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "calendar-2027.TEST-DATA.json"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def count_entries(db_url: str, cwd: Path) -> int:
    out = run(["verify", "--db", db_url, "--json"], cwd)
    assert out.returncode == 0, out.stdout + out.stderr
    return int(json.loads(out.stdout)["entries"])


def test_a_registrar_enters_a_year_from_a_file_and_reads_it_back(db_url: str, tmp_path: Path) -> None:
    assert run(["demo", "--db", db_url, "--cases", "2"], tmp_path).returncode == 0
    before = count_entries(db_url, tmp_path)
    bad = tmp_path / "bad.json"
    for content, said in (
        ('{"year": 2027, "holydays": []}', "unknown keys"),
        ("not json", "cannot read"),
        (json.dumps({**json.loads(FIXTURE.read_text()), "workdays": ["2027-01-04"]}), "E_CALENDAR_WORKDAY_NOT_WEEKEND"),
    ):
        bad.write_text(content)
        out = run(["calendar", "add", str(bad), "--db", db_url], tmp_path)
        assert out.returncode == 2, out.stdout + out.stderr
        assert said in out.stderr
        assert "Traceback" not in out.stderr
    assert count_entries(db_url, tmp_path) == before  # nothing written

    added = run(["calendar", "add", str(FIXTURE), "--db", db_url], tmp_path)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("entered 2027 as calendar:2027@")
    again = run(["calendar", "add", str(FIXTURE), "--db", db_url], tmp_path)
    assert again.returncode == 2
    assert "E_REASON_REQUIRED" in again.stderr

    notice = tmp_path / "notice.txt"
    notice.write_text("TEST DATA: a corrected notice\n", encoding="utf-8")
    toml = tmp_path / "2027.toml"
    toml.write_text('year = 2027\nholidays = ["2027-01-01", "2027-01-04"]\nworkdays = []\ntext_file = "notice.txt"\n'
                    'reason = "corrected: 4 January is a holiday"\n'
                    '[document]\nissuer = "TEST DATA"\nnumber = "TEST-2027-2"\nissued_on = "2026-12-10"\n')
    corrected = run(["calendar", "add", str(toml), "--db", db_url], tmp_path)
    assert corrected.returncode == 0, corrected.stderr
    shown = run(["calendar", "show", "2027", "--db", db_url, "--json"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    versions = json.loads(shown.stdout)["versions"]
    assert [v["document"]["number"] for v in versions] == ["TEST-2027-1", "TEST-2027-2"]
    assert versions[1]["supersedes"] == versions[0]["n"]
    assert versions[1]["text_sha256"] == hashlib.sha256(notice.read_bytes()).hexdigest()
    listing = run(["calendar", "show", "--db", db_url], tmp_path)
    assert "2027: calendar:2027@" in listing.stdout
    assert run(["calendar", "show", "2031", "--db", db_url], tmp_path).returncode == 2
    assert count_entries(db_url, tmp_path) == before + 3  # the register opened, then two versions of 2027
