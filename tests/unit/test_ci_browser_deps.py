"""``.ci/browser-deps`` installs the CJK font whether or not Chromium is already there (issue 17).

Run with stand-ins on ``PATH``: ``chromium`` present or not, ``fc-list`` listing a Chinese font or
nothing, and an ``apt-get`` that only writes down what it was asked to install.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "browser-deps"


def _stub(bin_dir: Path, name: str, body: str) -> None:
    p = bin_dir / name
    p.write_text(f"#!/bin/sh\n{body}\n")
    p.chmod(0o755)


@pytest.mark.parametrize(("has_chromium", "has_font", "installed"), [
    (True, False, ["fonts-wqy-microhei"]),
    (False, False, ["chromium", "fonts-wqy-microhei"]),
    (False, True, ["chromium"]),
    (True, True, []),
], ids=["chromium present, no font", "neither", "font present", "both present"])
def test_the_font_is_installed_whether_or_not_chromium_is_present(
        tmp_path: Path, has_chromium: bool, has_font: bool, installed: list[str]) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    for tool in ("grep", "sh", "env"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    if has_chromium:
        _stub(bin_dir, "chromium", "exit 0")
    _stub(bin_dir, "fc-list", "echo '/usr/share/fonts/wqy.ttc: WenQuanYi Micro Hei'" if has_font else "exit 0")
    _stub(bin_dir, "apt-get", f'echo "$@" >> {log}')
    bash = shutil.which("bash")
    assert bash is not None
    r = subprocess.run([bash, str(SCRIPT)], env={"PATH": str(bin_dir)}, capture_output=True, text=True,
                       timeout=30, check=False)
    assert r.returncode == 0, r.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    if not installed:
        assert calls == []
        return
    install = [c for c in calls if c.startswith("install")]
    assert len(install) == 1
    assert install[0].split()[3:] == installed
