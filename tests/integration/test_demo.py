"""`caseledger demo` seeds a ledger that `caseledger verify` accepts, against its trust key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_demo_seeds_a_verifiable_ledger_with_a_signed_checkpoint(db_url: str, tmp_path: Path) -> None:
    out = run(["demo", "--db", db_url, "--cases", "8"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "revoked_after_publication 2" in out.stdout
    assert (tmp_path / ".caseledger" / "master.secret").stat().st_mode & 0o077 == 0
    ok = run(["verify", "--db", db_url, "--trust", ".caseledger/trust.vkey", "--json"], tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert '"checkpoint_size"' in ok.stdout
    blobs = run(["verify", "--db", db_url, "--blobs"], tmp_path)
    assert blobs.returncode == 0, blobs.stdout + blobs.stderr
    assert "evidence blobs:" in blobs.stdout
    photo = next(p for p in (tmp_path / ".caseledger" / "blobs").rglob("*") if p.is_file())
    photo.write_bytes(photo.read_bytes()[:-1] + b"X")
    bad = run(["verify", "--db", db_url, "--blobs"], tmp_path)
    assert bad.returncode == 1
    assert "hash_mismatch" in bad.stdout or "size_mismatch" in bad.stdout
    again = run(["demo", "--db", db_url], tmp_path)
    assert again.returncode == 0
    assert "already holds a ledger" in again.stdout
