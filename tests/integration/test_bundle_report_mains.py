"""``python -m ledger.bundle_deadlines`` / ``ledger.bundle_evidence``: one command shape (ledger/bundle_cli.py).

Exit 0 with the report on a verifying bundle, 1 when the bundle fails verification, 2 when a file
cannot be read; errors go to stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger import bundle_deadlines, bundle_evidence
from tests.integration.test_calendar_bundle import TRUST, exported

MAINS = [bundle_deadlines.main, bundle_evidence.main]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("bundle")
    _, _, data = exported(f"sqlite:///{d / 'ledger.db'}")
    good, bad, trust = d / "case.bundle", d / "tampered.bundle", d / "trust.vkey"
    good.write_bytes(data)
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x01
    bad.write_bytes(bytes(flipped))
    trust.write_text("\n".join(TRUST) + "\n", encoding="utf-8")
    return good, bad, trust


@pytest.mark.parametrize("main", MAINS)
def test_a_verifying_bundle_prints_its_report_as_json(main, files, capsys) -> None:
    good, _, trust = files
    assert main([str(good), "--trust", str(trust), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out  # deadlines: a list of rows; evidence: the groups
    if main is bundle_deadlines.main:
        assert out[0]["deadline"] == "result_notice"


@pytest.mark.parametrize("main", MAINS)
def test_a_tampered_bundle_is_exit_1_on_stderr(main, files, capsys) -> None:
    _, bad, trust = files
    assert main([str(bad), "--trust", str(trust)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "does not verify" in captured.err


@pytest.mark.parametrize("main", MAINS)
def test_a_missing_file_is_exit_2_on_stderr(main, files, tmp_path, capsys) -> None:
    _, _, trust = files
    assert main([str(tmp_path / "absent.bundle"), "--trust", str(trust)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "absent.bundle" in captured.err
