"""The database side of court bundles: signing checkpoints and exporting a case (docs/spec/05-bundles.md).

:func:`issue_checkpoint` signs the Merkle log's current size and root as a C2SP checkpoint, with
a ``caseledger-keys`` extension line naming the key-registry head at that size, and stores it.
:func:`export_bundle` builds the bundle of one case against the latest stored checkpoint; the
standalone :mod:`ledger.bundle` verifies it with no database.

Both read the log's size once and otherwise only immutable rows (leaves, subtree hashes,
entries) filtered by leaf index below that size, so they need no lock and see a consistent log
under PostgreSQL's READ COMMITTED as well as under SQLite, while writers keep appending.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nacl.signing import SigningKey
from sqlalchemy import Connection, Engine, Table, select

from ledger import encoding, merkle
from ledger.audit import events_table
from ledger.bundle import FORMAT, KEYS_EXTENSION, VERSION, evidence_of, load_verified_bundle, manifest_digest
from ledger.chain import Entry, decode_entry, decode_record
from ledger.checkpoint import NoteVerifier, parse_checkpoint_body, parse_note, sign_checkpoint
from ledger.errors import CheckpointError, EquivocationError, UsageError
from ledger.hashing import entry_hash
from ledger.keys import CALENDAR_REGISTER_ID, KEY_REGISTRY_ID
from ledger.limits import DEFAULT_LIMITS, Limits
from ledger.merkle_store import MerkleStore
from ledger.signing import BUNDLE_CONTEXT, sign

_FETCH_CHUNK = 400  # subtree ids per SELECT (two bound parameters each; SQLite's old limit is 999)


class LedgerHandle(Protocol):
    """What this module needs from ``api.bootstrap.Container``."""

    engine: Engine
    merkle: MerkleStore


@dataclass(frozen=True, slots=True)
class IssuedCheckpoint:
    """A checkpoint signed (or found already stored) by :func:`issue_checkpoint`."""

    note: str
    size: int
    root: bytes
    stored: bool


@dataclass(frozen=True, slots=True)
class ExportedBundle:
    """The bundle bytes and what they cover."""

    data: bytes
    case: str
    entries: int
    keys: int
    checkpoint_size: int
    signed: bool


def item(entry: bytes, sig: bytes, index: int, recorded_at: int, proof: Sequence[bytes]) -> dict[str, Any]:
    """One element of a bundle's ``entries`` or ``keys`` (spec 05 §Layout)."""
    return {"leaf": {"index": index, "recorded_at": recorded_at}, "proof": [bytes(h) for h in proof],
            "record": {"entry": entry, "sig": sig}}


def withheld_item(entry: bytes, sig: bytes, index: int, recorded_at: int, proof: Sequence[bytes]) -> dict[str, Any]:
    """A case entry its reader may not see: hash, signature, leaf and proof (spec 05 §Withheld entries)."""
    return {"leaf": {"index": index, "recorded_at": recorded_at}, "proof": [bytes(h) for h in proof],
            "record": {"withheld": bytes(entry_hash(entry)), "sig": sig}}


def assemble(case: str, checkpoint: str, entries: list[dict[str, Any]], keys: list[dict[str, Any]],
             *, signer: tuple[str, SigningKey] | None = None, calendar: list[dict[str, Any]] | None = None) -> bytes:
    """Encode a bundle (spec 05 §Layout); ``signer`` = (note key name, key) adds the manifest ``sig``;
    ``calendar``, the calendar register's entries (step 7.8), is left out when empty.

    Pure: the spec's vector generator uses it too.
    """
    shown = (decode_entry(i["record"]["entry"]) for i in entries if "entry" in i["record"])
    bundle: dict[str, Any] = {"format": FORMAT, "v": VERSION, "case": case, "checkpoint": checkpoint,
                              "entries": entries, "keys": keys, "evidence": evidence_of(shown)}
    if calendar:
        bundle["calendar"] = calendar
    if signer is not None:
        bundle["sig"] = {"name": signer[0], "sig": bytes(sign(signer[1], BUNDLE_CONTEXT, manifest_digest(bundle)))}
    return encoding.encode(bundle)


def _stream(conn: Connection, table: Table, store: MerkleStore, case: str, size: int) -> list[tuple[Any, ...]]:
    """(n, record, leaf index, recorded_at) of one stream's entries with a leaf below ``size``, by n."""
    nd = store.nodes
    q = (select(table.c.originator_version, table.c.state, store.leaf_index, nd.c.recorded_at)
         .select_from(table.join(nd, store.leaf_on(table.c.id)))
         .where(table.c.originator_id == uuid.UUID(case), nd.c.pos // 2 < size)
         .order_by(table.c.originator_version))
    return [(int(n), bytes(state), int(idx), int(rec)) for n, state, idx, rec in conn.execute(q)]


def registry_head_extension(conn: Connection, table: Table, store: MerkleStore, size: int) -> str | None:
    """``caseledger-keys <m> <base64 hash of registry entry m>`` for the registry head below ``size``."""
    rows = _stream(conn, table, store, KEY_REGISTRY_ID, size)
    if not rows:
        return None
    n, state, _, _ = rows[-1]
    data, _ = decode_record(state)
    return f"{KEYS_EXTENSION} {n} {base64.b64encode(entry_hash(data)).decode()}"


def issue_checkpoint(ledger: LedgerHandle, *, origin: str, signing_key: SigningKey, clock: Callable[[], int],
                     signer_name: str | None = None) -> IssuedCheckpoint:
    """Sign and store a checkpoint of the log as it is now (spec 04; spec 05 §Checkpoint extension).

    Args:
        ledger: the container (engine and Merkle store).
        origin: the log's origin line; also the signer's note key name unless ``signer_name``.
        signing_key: the ledger key.
        clock: integer µs UTC, for ``created_at``.
        signer_name: the note key name (default: ``origin``).

    Returns:
        The signed note. If an identical note of this size is already stored, it is not stored again.

    Raises:
        EquivocationError: a stored checkpoint of the same size names another root (step 4.8).
    """
    store = ledger.merkle
    table = events_table(ledger.engine)
    with ledger.engine.begin() as conn:
        size = store.size(conn)
        root = store.root(conn, size)  # from immutable subtree rows: consistent even if the log grows meanwhile
        ext = registry_head_extension(conn, table, store, size)
        note = sign_checkpoint(origin, size, root, signer_name or origin, signing_key, extensions=[ext] if ext else ())
        existing = store.checkpoint_at(conn, size)
        if existing is not None:
            try:
                _, _, old_root, _ = parse_checkpoint_body(parse_note(existing.note).body)
            except CheckpointError:
                old_root = None
            if old_root != root or bytes(existing.root) != root:
                raise EquivocationError(
                    "4.8", f"a stored checkpoint of size {size} names another root; the log was rewritten",
                    expected=bytes(existing.root).hex(), actual=root.hex())
            if existing.note == note:
                return IssuedCheckpoint(note, size, root, stored=False)
        store.add_checkpoint(conn, note, size, root, clock())
    return IssuedCheckpoint(note, size, root, stored=True)


def _fetcher(conn: Connection, store: MerkleStore) -> merkle.NodeFetcher:
    inner = store.fetcher(conn)

    def fetch(nodes: Collection[merkle.NodeId]) -> Mapping[merkle.NodeId, bytes]:
        ids = sorted(set(nodes))
        out: dict[merkle.NodeId, bytes] = {}
        for i in range(0, len(ids), _FETCH_CHUNK):
            out.update(inner(ids[i : i + _FETCH_CHUNK]))
        return out

    return fetch


def _proofs(conn: Connection, store: MerkleStore, indexes: Sequence[int], size: int) -> dict[int, list[bytes]]:
    """Inclusion proofs for many leaves, reading every subtree hash they need in one batch."""
    need = {node for i in indexes for s, e in merkle.inclusion_ranges(i, size) for node in merkle.perfect_nodes(s, e)}
    got = _fetcher(conn, store)(need) if need else {}
    return {i: [bytes(h) for h in merkle.inclusion_proof(i, size, lambda _: got)] for i in indexes}


def export_bundle(
    ledger: LedgerHandle,
    case_id: str,
    *,
    signer: tuple[str, SigningKey] | None = None,
    trusted: Sequence[NoteVerifier | str] = (),
    limits: Limits = DEFAULT_LIMITS,
    withhold: Callable[[Entry], bool] | None = None,
) -> ExportedBundle:
    """Build the court bundle of one case against the latest stored checkpoint (spec 05 §Layout).

    Args:
        ledger: the container (engine and Merkle store).
        case_id: the case (stream) id.
        signer: optional ``(note key name, key)`` that signs the manifest (step 7.7).
        trusted: if given, the bundle is verified with these keys before it is returned.
        limits: bounds (the bundle must fit ``max_bundle_bytes`` and ``max_bundle_entries``).
        withhold: case entries for which it answers True are withheld: hash and position only
            (spec 05 §Withheld entries; the reader's visibility policy decides).

    Raises:
        UsageError: no checkpoint yet, unknown case, the case has entries after the latest
            checkpoint, or the bundle would exceed the limits.
        VerificationError: the stored checkpoint does not match the log, or (with ``trusted``)
            the bundle fails verification.
    """
    try:
        case = str(uuid.UUID(case_id))
    except ValueError:
        msg = f"{case_id!r} is not a case id (a UUID)"
        raise UsageError(msg) from None
    if case == KEY_REGISTRY_ID:
        msg = "the key registry is included in every bundle; export a case"
        raise UsageError(msg)
    store = ledger.merkle
    table = events_table(ledger.engine)
    with ledger.engine.connect() as conn:
        cp = store.latest_checkpoint(conn)
        if cp is None:
            msg = "no checkpoint has been signed yet: run `caseledger checkpoint` first"
            raise UsageError(msg)
        size = cp.size
        if store.size(conn) < size or store.root(conn, size) != bytes(cp.root):
            raise CheckpointError("5.5", "the log does not reproduce the latest stored checkpoint",
                                  expected=bytes(cp.root).hex(), actual=f"log of size {store.size(conn)}",
                                  code="E_CHECKPOINT_MISMATCH")
        rows = _stream(conn, table, store, case, 2**63 - 1)
        if not rows:
            msg = f"case {case} has no entries"
            raise UsageError(msg)
        late = [n for n, _, idx, _ in rows if idx >= size]
        if late:
            msg = (f"case {case} has {len(late)} entries (from n = {late[0]}) after the latest checkpoint "
                   f"(size {size}): run `caseledger checkpoint` first")
            raise UsageError(msg)
        if len(rows) > limits.max_bundle_entries:
            msg = f"case {case} has {len(rows)} entries, more than a bundle may hold ({limits.max_bundle_entries})"
            raise UsageError(msg)
        keys = _stream(conn, table, store, KEY_REGISTRY_ID, size)
        # The whole calendar register below the checkpoint: every official year a deadline may have used.
        calendar = _stream(conn, table, store, CALENDAR_REGISTER_ID, size)
        proofs = _proofs(conn, store, [idx for _, _, idx, _ in rows + keys + calendar], size)
        note = store.cosigned_note(conn, cp)  # with the witnesses' cosignatures (spec 04, spec 05 §Layout)

    def items(stream: list[tuple[Any, ...]], hide: Callable[[Entry], bool] | None) -> list[dict[str, Any]]:
        out = []
        for _, state, idx, rec_at in stream:
            data, sig = decode_record(state)
            make = withheld_item if hide is not None and hide(decode_entry(data)) else item
            out.append(make(data, sig, idx, rec_at, proofs[idx]))
        return out

    data = assemble(case, note, items(rows, withhold), items(keys, None), signer=signer,
                    calendar=items(calendar, None))
    if len(data) > limits.max_bundle_bytes:
        msg = f"the bundle of case {case} would be {len(data)} bytes, over the limit of {limits.max_bundle_bytes}"
        raise UsageError(msg)
    if trusted:
        load_verified_bundle(data, trusted, limits=limits)
    return ExportedBundle(data, case, len(rows), len(keys), size, signed=signer is not None)


__all__ = ["ExportedBundle", "IssuedCheckpoint", "LedgerHandle", "assemble", "export_bundle", "issue_checkpoint",
           "item", "registry_head_extension", "withheld_item"]
