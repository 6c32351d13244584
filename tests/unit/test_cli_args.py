"""Numeric command-line options refuse out-of-range values before anything is opened or written.

The ranges are Click's (``click.IntRange``/``click.FloatRange``); a refused value is exit 2 with the
option named on stderr.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from api.cli import cli, main

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
    (["replay", "CASE", "--entry", "0"], "--entry"),
    (["serve", "--port", "0"], "--port"),
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--workers", "0"], "--workers"),
    (["serve", "--checkpoint-every", "-1"], "--checkpoint-every"),
    (["serve", "--checkpoint-every", "nan"], "--checkpoint-every"),
    (["serve", "--checkpoint-every", "inf"], "--checkpoint-every"),
]


@pytest.mark.parametrize(("argv", "option"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_out_of_range_numbers_are_usage_errors(argv: list[str], option: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert f"Invalid value for '{option}'" in captured.err
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []  # refused before anything was opened


def _parse(argv: list[str]) -> dict[str, object]:
    """The parameters Click parses for ``argv`` (the command is not run)."""
    return cli.commands[argv[0]].make_context(argv[0], list(argv[1:])).params


def test_in_range_numbers_are_taken() -> None:
    params = _parse(["rebuild", "--jobs", "2", "--batch", "1000"])
    assert (params["jobs"], params["batch"]) == (2, 1000)
    params = _parse(["serve", "--port", "65535", "--checkpoint-every", "1.5"])
    assert (params["port"], params["checkpoint_every"]) == (65535, 1.5)


def test_verify_blobs_takes_an_optional_directory() -> None:
    assert _parse(["verify"])["blobs"] is None
    assert _parse(["verify", "--blobs"])["blobs"] == ""
    assert _parse(["verify", "--blobs", "/srv/blobs"])["blobs"] == "/srv/blobs"


def test_replay_refuses_two_clocks_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "CASE", "--entry", "3", "--recorded-by", "2025-09-30T10:00+08:00"]) == 2
    assert "--recorded-by is not allowed with --entry" in capsys.readouterr().err


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        out.append((*path, name))
        if isinstance(command, click.Group):
            out += _commands(command, (*path, name))
    return out


COMMANDS = [(), *_commands(cli)]


def test_the_command_tree_is_complete() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for expected in ("verify", "serve", "init", "demo", "key add", "token add", "token revoke", "cases",
                     "db upgrade", "db current", "calendar add", "calendar show", "rebuild", "replay", "project",
                     "checkpoint", "export", "verify-bundle", "export-draw"):
        assert expected in names


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(c) or "caseledger" for c in COMMANDS])
def test_every_command_has_help_with_an_example(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: caseledger" in out
    examples = out.split("Examples:", 1)
    assert len(examples) == 2, out  # an Examples: section ...
    lines = [line.strip() for line in examples[1].splitlines() if line.strip()]
    assert lines, out
    prefix = " ".join(("caseledger", *path))
    assert any(line.startswith(prefix) for line in lines), out  # ... with at least one run of this very command
    assert all(line.startswith("caseledger ") for line in lines), out


def test_an_unknown_command_or_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verfy"]) == 2
    assert "No such command 'verfy'" in capsys.readouterr().err
    assert main(["verify", "--wrokers", "2"]) == 2
    assert "No such option '--wrokers'" in capsys.readouterr().err
    assert main(["token", "add"]) == 2
    assert "Missing argument 'PRINCIPAL'" in capsys.readouterr().err
    assert main([]) == 2


def test_a_refused_demo_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    r = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--db", f"sqlite:///{db}", "--cases", "0"],
                       capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"},
                       check=False)
    assert r.returncode == 2, r.stderr
    assert "--cases" in r.stderr
    assert not db.exists()
    assert list(tmp_path.iterdir()) == []


ENV_BAD = [
    ("CASELEDGER_AGGREGATE_CACHE", "-1"),
    ("CASELEDGER_MAX_BLOB_BYTES", "lots"),
    ("CASELEDGER_MAX_JSON_BYTES", "0"),
    ("CASELEDGER_CHECKPOINT_EVERY", "nan"),
    ("CASELEDGER_LOG_LEVEL", "chatty"),
    ("CASELEDGER_MASTER_SECRET", "too-short"),
]


@pytest.mark.parametrize(("var", "value"), ENV_BAD, ids=[v for v, _ in ENV_BAD])
def test_an_invalid_environment_variable_is_a_usage_error_naming_it(var: str, value: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(var, value)
    assert main(["demo", "--db", str(tmp_path / "l.db")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"caseledger demo: invalid environment: {var}: "), captured.err
    assert len(captured.err.strip().splitlines()) == 1  # one line, no traceback
    assert ("too-short" in captured.err) is False  # a secret is never echoed
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_an_empty_environment_variable_counts_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.settings import Settings

    monkeypatch.setenv("CASELEDGER_AGGREGATE_CACHE", "")
    monkeypatch.setenv("CASELEDGER_DATA_DIR", str(tmp_path))
    assert Settings.from_env().aggregate_cache == 1000
    monkeypatch.setenv("CASELEDGER_AGGREGATE_CACHE", "7")
    assert Settings.from_env().aggregate_cache == 7
