"""Import rules that import-linter cannot express (subpackages of external packages)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ["encoding", "hashing", "signing", "chain", "merkle", "checkpoint", "bundle", "verify", "errors", "keys",
        "limits", "trust"]


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def is_stdlib(name: str) -> bool:
    return name.split(".", maxsplit=1)[0] in sys.stdlib_module_names or name == "__future__"


@pytest.mark.parametrize("path", sorted((ROOT / "domain").rglob("*.py")), ids=lambda p: p.name)
def test_domain_imports_only_stdlib_and_eventsourcing_domain(path: Path) -> None:
    bad = {n for n in imports_of(path)
           if not (is_stdlib(n) or n == "eventsourcing.domain" or n == "domain" or n.startswith("domain."))}  # noqa: PLR1714 - reads as the allow-list
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("name", CORE)
def test_verification_core_imports_only_stdlib_msgpack_and_nacl(name: str) -> None:
    path = ROOT / "ledger" / f"{name}.py"
    if not path.exists():
        pytest.fail(f"ledger/{name}.py is part of the verification core and must exist")
    allowed_ledger = {f"ledger.{m}" for m in CORE} | {"ledger"}
    bad = {n for n in imports_of(path)
           if not (is_stdlib(n) or n.split(".")[0] in {"msgpack", "nacl"} or n in allowed_ledger)}
    assert not bad, f"ledger/{name}.py imports {bad}"
