"""docs/operations/running.md's walkthrough, from ``caseledger init`` to the first inspection, is run
as it stands: the block between its ``walkthrough`` markers, in bash, with the installed command."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
RUNNING = PROJECT / "docs" / "operations" / "running.md"


def walkthrough() -> str:
    text = RUNNING.read_text(encoding="utf-8")
    m = re.search(r"<!-- walkthrough -->\s*```sh\n(.*?)```\s*<!-- /walkthrough -->", text, re.DOTALL)
    assert m is not None, "running.md has no walkthrough block"
    return m.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_walkthrough_goes_from_init_to_a_first_inspection(db_url: str, tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    assert shutil.which("curl") is not None, "the walkthrough uses curl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASELEDGER_")}
    env.update({"CASELEDGER_DB": db_url, "PORT": str(free_port()),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"})
    p = subprocess.Popen([bash, "-euo", "pipefail", "-c", walkthrough()], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=600)
    finally:  # the script's process group, with the server should it have stopped before `kill`
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    assert p.returncode == 0, out[-3000:] + err[-3000:] + (tmp_path / "serve.log").read_text()[-2000:]
    assert "registrar token (shown once): clk_" in out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"ok"')]
    assert len(lines) == 8  # seven register commands and the dispatch
    assert "1 inspections and 8 register streams" in out
    assert "dispatched" in out
    assert "-1-0001" in out
