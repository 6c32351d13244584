"""Numeric command-line options refuse out-of-range values before anything is opened or written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]

BAD = [
    (["verify", "--workers", "0"], "--workers"),
    (["verify", "--workers", "two"], "--workers"),
    (["demo", "--cases", "0"], "--cases"),
    (["demo", "--cases", "-5"], "--cases"),
    (["rebuild", "--jobs", "0"], "--jobs"),
    (["rebuild", "--jobs", "-3"], "--jobs"),
    (["rebuild", "--batch", "0"], "--batch"),
    (["project", "--batch", "-1"], "--batch"),
    (["serve", "--port", "0"], "--port"),
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--workers", "0"], "--workers"),
    (["serve", "--checkpoint-every", "-1"], "--checkpoint-every"),
    (["serve", "--checkpoint-every", "nan"], "--checkpoint-every"),
]


@pytest.mark.parametrize(("argv", "option"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_out_of_range_numbers_are_usage_errors(argv: list[str], option: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_in_range_numbers_are_taken() -> None:
    args = build_parser().parse_args(["rebuild", "--jobs", "2", "--batch", "1000"])
    assert (args.jobs, args.batch) == (2, 1000)
    assert build_parser().parse_args(["serve", "--port", "65535", "--checkpoint-every", "1.5"]).port == 65535


def test_a_refused_demo_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    r = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--db", f"sqlite:///{db}", "--cases", "0"],
                       capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"},
                       check=False)
    assert r.returncode == 2, r.stderr
    assert "--cases" in r.stderr
    assert not db.exists()
    assert list(tmp_path.iterdir()) == []
