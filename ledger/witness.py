r"""A C2SP tlog-witness: cosign a log's checkpoints, never a fork (spec 04 §Witness protocol).

The witness follows a fixed set of logs (their type-0x01 checkpoint keys, named by origin) and
keeps, per log, the size, root and note of the latest checkpoint it cosigned, in its own small
SQLite file. ``add-checkpoint`` requests are handled as C2SP tlog-witness says::

    old <size>\n
    <base64 consistency proof hash>\n      (0 to 63 lines)
    \n
    <signed checkpoint note>

and each refusal carries the HTTP status the spec names:

=====  =====================================================================================
400    malformed request; old size above the checkpoint's size
403    no signature by a key the witness trusts for the origin (or a known key's fails)
404    the origin is not a log this witness follows
409    old size is not the size it last cosigned (body: that size, ``text/x.tlog.size``),
       or same size and another root (a fork)
422    the consistency proof does not verify (a fork, or a bad proof)
=====  =====================================================================================

Checking the old size and storing the new checkpoint happen in one ``BEGIN IMMEDIATE``
transaction, so two concurrent requests cannot roll the state back. Signed checkpoints refused as
not extending what was cosigned (a fork at the same size, a failing consistency proof) are kept
in ``witness_refusals`` as possible evidence of misbehaviour. Imports: the
standard library, PyNaCl and the pure ledger modules.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from ledger import merkle
from ledger.checkpoint import (
    ALG_COSIGNATURE_V1,
    NoteVerifier,
    cosign,
    parse_checkpoint_body,
    parse_note,
    verify_checkpoint,
)
from ledger.errors import CheckpointError, ProofError, SignatureError, UsageError
from ledger.limits import DEFAULT_LIMITS, Limits

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_PRIVATE_PREFIX = "PRIVATE+KEY+"


class WitnessRefusal(Exception):
    """The witness does not cosign: ``status`` is the HTTP status tlog-witness names."""

    def __init__(self, status: int, reason: str, *, latest_size: int | None = None, evidence: bool = False) -> None:
        super().__init__(reason)
        self.status, self.reason, self.latest_size, self.evidence = status, reason, latest_size, evidence


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """One parsed ``add-checkpoint`` request body."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


def format_request(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The ``add-checkpoint`` request body."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return ("".join(line + "\n" for line in lines) + "\n" + note).encode("utf-8")


def parse_request(body: bytes, *, limits: Limits = DEFAULT_LIMITS) -> AddCheckpoint:
    """Parse an ``add-checkpoint`` body strictly.

    Raises:
        WitnessRefusal: 400, naming what is wrong.
    """
    if len(body) > limits.max_note_bytes + 64 * (MAX_PROOF_LINES + 1):
        raise WitnessRefusal(400, "request body is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRefusal(400, "request body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith("old "):
        raise WitnessRefusal(400, "request must start with an `old <size>` line and a blank line before the note")
    size_text = lines[0][4:]
    if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise WitnessRefusal(400, f"old size {size_text!r} is not a decimal without leading zeros")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRefusal(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            h = base64.b64decode(line, validate=True)
        except binascii.Error:
            h = b""
        if len(h) != merkle.HASH_SIZE:
            raise WitnessRefusal(400, f"proof line {line!r} is not the base64 of a 32-byte hash")
        proof.append(h)
    return AddCheckpoint(int(size_text), tuple(proof), note)


def load_witness_key(text: str) -> tuple[str, SigningKey]:
    """Parse ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 ‖ 32-byte seed)>`` (the signed-note
    private key form, with the cosignature/v1 type); check the key id.

    Raises:
        UsageError: the text is not such a key.
    """
    line = text.strip()
    parts = line[len(_PRIVATE_PREFIX):].split("+", 2) if line.startswith(_PRIVATE_PREFIX) else []
    try:
        raw = base64.b64decode(parts[2], validate=True) if len(parts) == 3 else b""  # noqa: PLR2004
    except binascii.Error:
        raw = b""
    if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:  # noqa: PLR2004 - type byte and 32-byte seed
        msg = "witness key must be PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || 32-byte seed)>"
        raise UsageError(msg)
    key = SigningKey(raw[1:])
    v = NoteVerifier.from_signing_key(parts[0], key, ALG_COSIGNATURE_V1)
    if v.key_id.hex() != parts[1].lower():
        msg = f"witness key id {parts[1]} does not match the key (want {v.key_id.hex()})"
        raise UsageError(msg)
    return parts[0], key


def format_witness_key(name: str, key: SigningKey) -> str:
    """The private key text :func:`load_witness_key` reads."""
    v = NoteVerifier.from_signing_key(name, key, ALG_COSIGNATURE_V1)
    return f"{_PRIVATE_PREFIX}{name}+{v.key_id.hex()}+{base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + bytes(key)).decode()}"  # noqa: E501


_SCHEMA = """
CREATE TABLE IF NOT EXISTS witness_logs (
    origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS witness_refusals (
    id INTEGER PRIMARY KEY, origin TEXT NOT NULL, at INTEGER NOT NULL, status INTEGER NOT NULL,
    reason TEXT NOT NULL, request BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class LogState:
    """What the witness last cosigned for one log."""

    origin: str
    size: int
    root: bytes
    note: str
    updated_at: int


class Witness:
    """One witness key, the logs it follows, and its state file."""

    def __init__(self, name: str, key: SigningKey, logs: Sequence[NoteVerifier], state: Path | str, *,
                 clock: Callable[[], float] = time.time, limits: Limits = DEFAULT_LIMITS) -> None:
        if not logs or any(k.alg != 0x01 for k in logs):
            msg = "a witness follows at least one log, each named by its type-0x01 checkpoint key"
            raise UsageError(msg)
        self.name, self.key, self.logs, self.clock, self.limits = name, key, tuple(logs), clock, limits
        self.verifier = NoteVerifier.from_signing_key(name, key, ALG_COSIGNATURE_V1)
        self.path = Path(state)
        with self._db() as db:
            db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def state(self, origin: str) -> LogState | None:
        """The latest checkpoint cosigned for ``origin``, or None."""
        db = self._db()
        try:
            row = db.execute("SELECT origin, size, root, note, updated_at FROM witness_logs WHERE origin = ?",
                             (origin,)).fetchone()
        finally:
            db.close()
        return None if row is None else LogState(row[0], row[1], bytes(row[2]), row[3], row[4])

    def refusals(self) -> list[tuple[str, int, str]]:
        """Refused requests that bore a valid log signature: (origin, status, reason), oldest first."""
        db = self._db()
        try:
            return [(r[0], r[1], r[2]) for r in db.execute(
                "SELECT origin, status, reason FROM witness_refusals ORDER BY id")]
        finally:
            db.close()

    def add_checkpoint(self, body: bytes) -> str:
        """Handle one ``add-checkpoint`` request; return the cosignature line(s).

        Raises:
            WitnessRefusal: with the status the spec names (module docstring).
        """
        req = parse_request(body, limits=self.limits)
        try:
            origin, size, root, _ = parse_checkpoint_body(parse_note(req.note, limits=self.limits).body)
        except CheckpointError as e:
            raise WitnessRefusal(400, f"checkpoint is malformed: {e.message}") from None
        keys = [k for k in self.logs if k.name == origin]
        if not keys:
            raise WitnessRefusal(404, f"unknown log {origin!r}")
        try:
            verified = verify_checkpoint(req.note, keys, origin=origin, limits=self.limits)
        except (CheckpointError, SignatureError) as e:
            raise WitnessRefusal(403, f"checkpoint is not signed by a key trusted for {origin}: {e.message}") from None
        if req.old_size > size:
            raise WitnessRefusal(400, f"old size {req.old_size} is above the checkpoint size {size}")
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")  # the check and the update are one step (tlog-witness)
            try:
                self._check(db, req, origin, size, root)
            except WitnessRefusal as r:
                if r.evidence:  # a signed checkpoint that is not an extension: kept
                    db.execute("INSERT INTO witness_refusals (origin, at, status, reason, request) "
                               "VALUES (?, ?, ?, ?, ?)", (origin, int(self.clock()), r.status, r.reason, body))
                db.execute("COMMIT")
                raise
            now = int(self.clock())
            db.execute("INSERT INTO witness_logs (origin, size, root, note, updated_at) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
                       "note = excluded.note, updated_at = excluded.updated_at",
                       (origin, size, root, verified.note, now))
            line = cosign(parse_note(req.note).body, self.name, self.key, now).line()
            db.execute("COMMIT")
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
            db.close()
        return line

    def _check(self, db: sqlite3.Connection, req: AddCheckpoint, origin: str, size: int, root: bytes) -> None:
        row = db.execute("SELECT size, root FROM witness_logs WHERE origin = ?", (origin,)).fetchone()
        latest, latest_root = (0, merkle.EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))
        if req.old_size != latest:
            raise WitnessRefusal(409, f"old size {req.old_size} is not the size last cosigned for {origin}",
                                 latest_size=latest)
        if req.old_size == size and root != latest_root:
            raise WitnessRefusal(409, f"a checkpoint of size {size} with another root was cosigned before: a fork",
                                 latest_size=latest, evidence=True)
        if req.old_size in (0, size):
            if req.proof:
                raise WitnessRefusal(422, f"a consistency proof from size {req.old_size} must be empty")
            return
        try:
            merkle.verify_consistency(req.old_size, size, list(req.proof), latest_root, root, limits=self.limits)
        except ProofError as e:
            msg = f"the consistency proof from size {req.old_size} does not verify (step {e.step}): not an extension"
            raise WitnessRefusal(422, msg, evidence=True) from None


__all__ = ["AddCheckpoint", "LogState", "Witness", "WitnessRefusal", "format_request", "format_witness_key",
           "load_witness_key", "parse_request"]
