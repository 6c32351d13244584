"""The ledger's side of C2SP tlog-witness: submit the latest checkpoint to each configured witness
and store the ``cosignature/v1`` lines it returns (spec 04 §Witness protocol).

For each witness (a ``witness <vkey> <url>`` line of the file CASELEDGER_WITNESSES names) the old
size is the largest checkpoint that witness has cosigned for this log, as recorded in
``checkpoint_cosignatures`` (0 at first). A ``409`` answer carries the witness's own size: the
request is made once more from that size, with the consistency proof from it, which is how a
ledger with a fresh database, or a witness that was fed by someone else, catches up. Every
returned line is checked against the witness's key before it is stored; lines by other keys are
ignored. A witness that refuses or cannot be reached is reported, never fatal: the checkpoint is
already stored and the next submission tries again.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.checkpoint import NoteVerifier, parse_note
from ledger.errors import CheckpointError, UsageError
from ledger.trust import witness_endpoints
from ledger.witness import SIZE_CONTENT_TYPE, format_request

if TYPE_CHECKING:
    from api.bootstrap import Container

#: ``post(url, body, timeout) -> (status, content type, body)``; raises OSError when unreachable.
Post = Callable[[str, bytes, float], tuple[int, str, bytes]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one witness did with the checkpoint."""

    witness: str
    cosigned: bool
    detail: str
    status: int | None = None


def http_post(url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
    """POST with the standard library; HTTP error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 - the operator's configured URL
                                 headers={"Content-Type": "text/plain; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310
            return int(r.status), r.headers.get("Content-Type", ""), r.read(1 << 16)
    except urllib.error.HTTPError as e:
        return int(e.code), e.headers.get("Content-Type", ""), e.read(1 << 16)


def load_witnesses(path: Path | str) -> list[tuple[NoteVerifier, str]]:
    """The witnesses (key, URL prefix) a trust/witness file lists.

    Raises:
        UsageError: the file cannot be read or a line is malformed (naming the file).
    """
    try:
        return witness_endpoints(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, UsageError) as e:
        msg = f"witness file {path}: {e}"
        raise UsageError(msg) from None


def submit_latest(container: Container, witnesses: Sequence[tuple[NoteVerifier, str]], *,
                  clock: Callable[[], int], post: Post = http_post, timeout: float = 10.0) -> list[Outcome]:
    """Submit the latest stored checkpoint to every witness that has not cosigned it yet."""
    store = container.merkle
    with container.engine.connect() as conn:
        cp = store.latest_checkpoint(conn)
    if cp is None:
        return []
    out: list[Outcome] = []
    for key, url in witnesses:
        with container.engine.connect() as conn:
            have = store.cosignature_lines(conn, cp.id)
            old = store.last_cosigned_size(conn, key.name, key.key_id)
        if any(_signer(line) == (key.name, key.key_id) for line in have):
            out.append(Outcome(key.name, cosigned=True, detail=f"had already cosigned size {cp.size}"))
            continue
        out.append(_submit_one(container, cp.id, cp.note, cp.size, key, url, old, clock, post, timeout))
    return out


def _signer(line: str) -> tuple[str, bytes] | None:
    try:
        sig = parse_note("x\n\n" + line).signatures[0]
    except CheckpointError:
        return None
    return sig.name, sig.key_id


def _submit_one(container: Container, cp_id: int, note: str, size: int, key: NoteVerifier, url: str, old: int,
                clock: Callable[[], int], post: Post, timeout: float) -> Outcome:
    store = container.merkle
    for _attempt in range(2):
        if old > size:
            return Outcome(key.name, cosigned=False, detail=f"the witness has cosigned size {old}, above this "
                           f"checkpoint's {size}: sign a newer checkpoint")
        with container.engine.connect() as conn:
            proof = [bytes(h) for h in store.consistency_proof(conn, old, size)] if 0 < old < size else []
        try:
            status, ctype, body = post(f"{url}/add-checkpoint", format_request(old, proof, note), timeout)
        except OSError as e:
            return Outcome(key.name, cosigned=False, detail=f"unreachable at {url}: {e}")
        text = body.decode("utf-8", "replace")
        if status == 409 and ctype.startswith(SIZE_CONTENT_TYPE) and text.strip().isdigit() and int(text) != old:  # noqa: PLR2004
            old = int(text)  # the witness's own size: try once more from there
            continue
        if status != 200:  # noqa: PLR2004
            return Outcome(key.name, cosigned=False, status=status,
                           detail=f"refused with HTTP {status}: {text.strip()[:300]}")
        return _store(container, cp_id, note, key, text, clock)
    return Outcome(key.name, cosigned=False, detail="the witness's size changed twice while submitting")


def _store(container: Container, cp_id: int, note: str, key: NoteVerifier, text: str,
           clock: Callable[[], int]) -> Outcome:
    try:
        parsed = parse_note(note + text)
    except CheckpointError as e:
        return Outcome(key.name, cosigned=False, status=200, detail=f"answered with malformed lines: {e.message}")
    mine = [s for s in parsed.signatures if (s.name, s.key_id) == (key.name, key.key_id)]
    if not mine or not key.check(parsed.body.encode("utf-8"), mine[0].signature) or mine[0].timestamp is None:
        return Outcome(key.name, cosigned=False, status=200, detail="answered without a valid cosignature by its key")
    sig = mine[0]
    with container.engine.begin() as conn:
        container.merkle.add_cosignature(conn, cp_id, key.name, key.key_id, sig.timestamp or 0, sig.line(), clock())
    return Outcome(key.name, cosigned=True, status=200, detail=f"cosigned at {sig.timestamp}")


def submit_configured(container: Container, *, clock: Callable[[], int], path: Path | str | None = None,
                      post: Post = http_post) -> list[Outcome]:
    """Submit to the witnesses of ``path`` (default: the CASELEDGER_WITNESSES setting); [] if none."""
    where = path or container.settings.witnesses
    if where is None:
        return []
    return submit_latest(container, load_witnesses(where), clock=clock, post=post)


__all__ = ["Outcome", "Post", "http_post", "load_witnesses", "submit_configured", "submit_latest"]
