"""The data the verification page embeds for the reader's own browser to check (docs/spec/06 §8).

``/v/{case}`` carries one ``<script type="application/json" id="caseledger-data">`` block built
here, and loads one fixed script, ``api/static/verify.js``, that checks it with WebCrypto
(SHA-256, Ed25519) against a log key the reader supplies (pinned in the QR code's URL fragment,
or typed in). The block holds the exact bytes the ledger hashed and signed, base64-encoded, so
a saved copy of the page verifies offline.

What the block holds depends on who reads (docs/api.md §Visibility):

* the public gets each entry as **hash and position** (``withheld``: entry hash, signature, leaf
  index, ``recorded_at``, inclusion proof), as the visibility policy allows: no body, no actor;
* the enterprise, which opens the page with its feedback token (``?token=``, R21), gets the
  entries it may see as their exact bytes (withheld types stay hash and position), plus the
  key-registry entries that register their signing keys (and the root keys that signed those),
  each with its inclusion proof, so its browser checks every signature and chain link too.

The script's SHA-256 is published in docs/spec/06-verification.md and shown on the page;
``tests/e2e/test_browser_verify.py`` keeps the two equal.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from projections.visibility import Audience, entry_visible

if TYPE_CHECKING:
    from uuid import UUID

    from api.deps import Services

SCRIPT_PATH = Path(__file__).parent / "static" / "verify.js"
FORMAT = "caseledger-page"
VERSION = 1


def script_sha256() -> str:
    """Hex SHA-256 of the browser verifier, as published in the docs."""
    return hashlib.sha256(SCRIPT_PATH.read_bytes()).hexdigest()


def _b64(b: bytes) -> str:
    return base64.b64encode(bytes(b)).decode("ascii")


def log_vkey(services: Services) -> str | None:
    """The server's own statement of the log key: the trusted verifier key named by the origin."""
    origin = services.container.settings.origin
    keys = services.config.trusted_vkeys
    return next((k for k in keys if k.split("+", 1)[0] == origin), keys[0] if keys else None)


def _rows(services: Services, case: str) -> list[tuple[int, bytes, int, int]]:
    from uuid import UUID as _UUID  # noqa: PLC0415

    c = services.container
    table = services.events_table()
    nd = c.merkle.nodes
    q = (select(table.c.originator_version, table.c.state, c.merkle.leaf_index, nd.c.recorded_at)
         .select_from(table.join(nd, c.merkle.leaf_on(table.c.id)))
         .where(table.c.originator_id == _UUID(case)).order_by(table.c.originator_version))
    with c.engine.connect() as conn:
        return [(int(n), bytes(s), int(i), int(r)) for n, s, i, r in conn.execute(q).all()]


def page_data(services: Services, case_id: UUID, audience: Audience, labels: dict[str, str]) -> dict[str, Any] | None:
    """The JSON block of ``/v/{case}`` for ``audience`` (PUBLIC or ENTERPRISE), or None without a checkpoint."""
    from ledger.chain import decode_entry, decode_record  # noqa: PLC0415
    from ledger.errors import LedgerError  # noqa: PLC0415
    from ledger.hashing import entry_hash  # noqa: PLC0415
    from ledger.keys import KEY_REGISTRY_ID  # noqa: PLC0415

    c = services.container
    with c.engine.connect() as conn:
        stored = c.merkle.latest_checkpoint(conn)
        note = None if stored is None else c.merkle.cosigned_note(conn, stored)  # with witness cosignatures
    if stored is None or note is None:
        return None
    size = stored.size
    full = audience is not Audience.PUBLIC
    wanted: set[bytes] = set()
    items: list[dict[str, Any]] = []
    with c.engine.connect() as conn:
        for n, state, idx, rec in _rows(services, str(case_id)):
            proof = [_b64(h) for h in c.merkle.inclusion_proof(conn, idx, size)] if idx < size else None
            item: dict[str, Any] = {"n": n, "index": idx, "recorded_at": rec, "proof": proof}
            try:
                data, sig = decode_record(state)
                e = decode_entry(data)
            except LedgerError:  # a damaged record is shown as it is: the script refuses it
                item.update(record=_b64(state), label="")
                items.append(item)
                continue
            visible = entry_visible(audience, e.type, e.body)
            item["label"] = labels.get(e.type, e.type) if visible else ""  # the script names it withheld
            if full and visible:
                item.update(entry=_b64(data), sig=_b64(sig))
                wanted.add(e.key)
            else:
                item.update(withheld=_b64(entry_hash(data)), sig=_b64(sig))
            items.append(item)
        keys = _registrations(services, conn, wanted, size, KEY_REGISTRY_ID) if full else []
    return {"format": FORMAT, "v": VERSION, "case": str(case_id), "audience": str(audience),
            "checkpoint": note, "server_key": log_vkey(services), "entries": items, "keys": keys}


def _registrations(services: Services, conn: Any, wanted: set[bytes], size: int,
                   registry: str) -> list[dict[str, Any]]:
    """The key-registry entries registering ``wanted`` keys and, transitively, the keys that signed them."""
    from ledger.chain import decode_entry, decode_record  # noqa: PLC0415

    c = services.container
    reg: dict[bytes, tuple[int, bytes, bytes, int, int, bytes]] = {}  # key id -> (n, entry, sig, idx, rec, signer)
    for n, state, idx, rec in _rows(services, registry):
        data, sig = decode_record(state)
        e = decode_entry(data)
        body = e.body.get("new") if e.type == "key.rotated.v1" else e.body
        kid = body.get("key_id") if isinstance(body, dict) else None
        if isinstance(body, dict) and isinstance(kid, bytes) and "public_key" in body:
            reg[kid] = (n, data, sig, idx, rec, e.key)
    out: dict[int, dict[str, Any]] = {}
    todo = list(wanted)
    while todo:
        kid = todo.pop()
        r = reg.get(kid)
        if r is None or r[0] in out or r[3] >= size:
            continue
        n, data, sig, idx, rec, signer = r
        out[n] = {"n": n, "entry": _b64(data), "sig": _b64(sig), "index": idx, "recorded_at": rec,
                  "proof": [_b64(h) for h in c.merkle.inclusion_proof(conn, idx, size)]}
        todo.append(signer)
    return [out[n] for n in sorted(out)]


def data_json(data: dict[str, Any]) -> str:
    """The block's text, safe inside ``<script>`` (no ``</`` can close it)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def qr_fragment(vkey: str | None) -> str:
    """The URL fragment that pins the log key in the QR code: ``#k=<verifier key>``."""
    from urllib.parse import quote  # noqa: PLC0415

    return "" if not vkey else "#k=" + quote(vkey, safe="+/=.-_")


__all__ = ["FORMAT", "SCRIPT_PATH", "data_json", "log_vkey", "page_data", "qr_fragment", "script_sha256"]
