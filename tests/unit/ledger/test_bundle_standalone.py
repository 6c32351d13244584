"""ledger/bundle.py stays a standalone verifier: stdlib, msgpack, PyNaCl and pure ledger modules only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ledger

LEDGER_DIR = Path(ledger.__file__).resolve().parent
PURE = {"encoding", "hashing", "signing", "chain", "keys", "merkle", "checkpoint", "errors", "limits", "trust"}
THIRD_PARTY = {"msgpack", "nacl"}
MAX_LINES = 425  # spec 05: kept under 425 lines (400 before withheld entries, issue 15)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (functions included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            mod = node.module or ""
            out.add(mod)
            if mod == "ledger":
                out.update(f"ledger.{a.name}" for a in node.names)
    return out


def allowed(module: str) -> bool:
    top = module.split(".", maxsplit=1)[0]
    if top in sys.stdlib_module_names or top in THIRD_PARTY or module == "__future__":
        return True
    return module == "ledger" or (top == "ledger" and module.split(".")[1] in PURE)


def test_bundle_py_imports_only_stdlib_msgpack_nacl_and_pure_ledger_modules() -> None:
    bad = sorted(m for m in imports_of(LEDGER_DIR / "bundle.py") if not allowed(m))
    assert not bad, f"ledger/bundle.py imports {bad}"


def test_the_pure_modules_it_relies_on_are_pure_too() -> None:
    seen: set[str] = set()
    todo = ["bundle"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        mods = imports_of(LEDGER_DIR / f"{name}.py")
        bad = sorted(m for m in mods if not allowed(m))
        assert not bad, f"ledger/{name}.py imports {bad}"
        todo.extend(m.split(".")[1] for m in mods if m.startswith("ledger."))
    assert seen >= {"bundle", "encoding", "merkle", "checkpoint", "chain", "keys"}


def test_bundle_py_is_short_enough_to_read() -> None:
    lines = (LEDGER_DIR / "bundle.py").read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"ledger/bundle.py has {lines} lines"


def test_bundle_py_imports_in_a_fresh_interpreter_without_the_rest_of_the_project() -> None:
    code = (
        "import sys, ledger.bundle\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy','eventsourcing','eventsourcing_sqlalchemy','cryptography','domain','api','projections'})\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=LEDGER_DIR.parent)
    assert out.stdout.strip() == "[]"
