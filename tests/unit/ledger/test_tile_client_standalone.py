"""ledger/tile_client.py stays standalone, like the bundle verifier: stdlib, msgpack, PyNaCl and pure ledger
modules only, and it runs in a fresh interpreter without the rest of the project."""

from __future__ import annotations

import subprocess
import sys

from tests.unit.ledger.test_bundle_standalone import LEDGER_DIR, PURE, THIRD_PARTY, imports_of

TILE_PURE = PURE | {"tiles", "tile_client"}


def allowed(module: str) -> bool:
    top = module.split(".", maxsplit=1)[0]
    if top in sys.stdlib_module_names or top in THIRD_PARTY or module == "__future__":
        return True
    return module == "ledger" or (top == "ledger" and module.split(".")[1] in TILE_PURE)


def test_the_tile_client_and_everything_it_imports_are_pure() -> None:
    seen: set[str] = set()
    todo = ["tile_client"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        mods = imports_of(LEDGER_DIR / f"{name}.py")
        bad = sorted(m for m in mods if not allowed(m))
        assert not bad, f"ledger/{name}.py imports {bad}"
        todo.extend(m.split(".")[1] for m in mods if m.startswith("ledger."))
    assert seen >= {"tile_client", "tiles", "merkle", "checkpoint"}


def test_the_tile_client_imports_in_a_fresh_interpreter_without_the_rest_of_the_project() -> None:
    code = (
        "import sys, ledger.tile_client\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy','eventsourcing','eventsourcing_sqlalchemy','cryptography','domain','api','projections'})\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=LEDGER_DIR.parent)
    assert out.stdout.strip() == "[]"
