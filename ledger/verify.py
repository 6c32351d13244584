"""Whole-ledger verification, pure and streaming (docs/spec/06-verification.md, part 1 and 2).

Input is plain data: rows of ``(position, case, n, record bytes)`` ordered by (case, n), checked
in bounded batches of whole cases. ``ledger.audit`` runs :func:`check_cases` in worker
processes, each over its own range of cases read straight from the database.
Memory is bounded by the batch window, not by the ledger's size, because rows arrive ordered
by (case, n) and only the current case's head is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nacl.exceptions import BadSignatureError

from ledger.chain import ChainCursor, decode_entry, decode_record, entry_map
from ledger.errors import KeyRegistryError, LedgerError, VerificationError
from ledger.hashing import Digest, entry_hash, genesis_prev, pae
from ledger.keys import KEY_REGISTRY_ID, KeyRing
from ledger.limits import DEFAULT_LIMITS, Limits
from ledger.signing import ENTRY_CONTEXT, check_signature, verify_key_for

Row = tuple[int, str, int, bytes]  # (global position, case, n, stored record)


@dataclass(frozen=True, slots=True)
class Failure:
    """The first failing entry: where it is, which step failed, and the values compared."""

    step: str
    code: str
    message: str
    position: int | None = None
    case: str | None = None
    n: int | None = None
    expected: Any = None
    actual: Any = None

    def as_dict(self) -> dict[str, Any]:
        """The failure as a JSON-ready dict."""
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class VerificationReport:
    """Result object for UIs and the CLI (after TUF's VerificationResult)."""

    entries: int = 0
    cases: int = 0
    keys: int = 0
    leaves: int = 0
    root: str | None = None
    checkpoint_size: int | None = None
    failure: Failure | None = None
    notes: list[str] = field(default_factory=list)
    #: Entries that pass 1 accepted, signed by a key the registry revokes: position ->
    #: (revoked_at, case, n). Pass 2 checks their leaves' ``recorded_at`` (step 5.7).
    revoked_uses: dict[int, tuple[int, str, int]] = field(default_factory=dict)
    #: The note of the latest checkpoint verified under trusted keys (or the remembered one,
    #: if larger): what ``--state`` remembers after an intact run (step 5.8).
    checkpoint_note: str | None = None
    #: The size of the checkpoint remembered from the last intact run (``--state``), if any.
    remembered_size: int | None = None

    @property
    def ok(self) -> bool:
        """True when no step failed."""
        return self.failure is None

    def fail(self, f: Failure) -> None:
        """Keep the failure with the lowest global position (the first bad entry)."""
        if self.failure is None:
            self.failure = f
            return
        a, b = f.position, self.failure.position
        if a is not None and (b is None or a < b):
            self.failure = f


@dataclass(frozen=True, slots=True)
class Checked:
    """What a worker learned about one row."""

    position: int
    case: str
    n: int
    error: Failure | None
    type: str = ""
    actor: str = ""
    key: bytes = b""
    occurred_at: int = 0
    prev: bytes = b""
    ehash: bytes = b""
    body: Any = None


def check_row(row: Row, pubkeys: dict[bytes, bytes], limits: Limits = DEFAULT_LIMITS, *,
              keep_body: bool = False) -> Checked:
    """Steps 1.1-1.4 for one stored row: canonical record, canonical entry, placement, signature."""
    pos, case, n, state = row
    try:
        # Step 1.1: the stored record is canonical msgpack {entry, sig}.
        data, sig = decode_record(state, limits=limits)
        # Step 1.2: the entry is canonical and its envelope well formed.
        e = decode_entry(data, limits=limits)
    except LedgerError as err:
        step = "1.1" if err.code.startswith("E_RECORD") else "1.2"
        return Checked(pos, case, n, Failure(step, err.code, err.message, pos, case, n))
    # Step 1.3: the entry sits where it claims: its case and n equal the row's.
    if (e.case, e.n) != (case, n):
        return Checked(pos, case, n, Failure("1.3", "E_CHAIN_BREAK", "entry is stored in another place",
                                             pos, case, n, f"{case}#{n}", f"{e.case}#{e.n}"))
    ehash = entry_hash(data)
    # Step 1.4: the signature verifies under the key named by the entry.
    pub = pubkeys.get(e.key)
    if pub is None:
        return Checked(pos, case, n, Failure("1.4", "E_KEY_UNKNOWN", "entry names an unregistered key",
                                             pos, case, n, "a registered key id", e.key.hex()))
    if not check_signature(pub, ENTRY_CONTEXT, ehash, sig):
        return Checked(pos, case, n, Failure("1.4", "E_SIGNATURE", "signature does not verify",
                                             pos, case, n, "valid Ed25519 signature", sig.hex()))
    return Checked(pos, case, n, None, e.type, e.actor, e.key, e.occurred_at, e.prev, ehash,
                   e.body if keep_body else None)


def check_cases(rows: list[Row], ring: KeyRing, limits: Limits = DEFAULT_LIMITS,
                revoked_uses: dict[int, tuple[int, str, int]] | None = None) -> tuple[int, int, Failure | None]:
    """Steps 1.1-1.7 for a batch of whole cases, rows ordered by (case, n).

    Returns (entries, cases, first failure by position). After a case's first failure the rest
    of that case is not reported: one tampered entry breaks every later link. Accepted entries
    signed by a revoked key are added to ``revoked_uses`` (position -> (revoked_at, case, n)) for
    step 5.7.

    Every row goes through the same checks as :func:`check_row` and :class:`ChainCursor`, in a
    loop without per-row objects; a row that fails any of them is checked again by those, which
    name the step and the values compared.
    """
    records = ring.records()
    pubkeys = {r.key_id: r.public_key for r in records}
    # key id -> (verify key, principal, valid from, end of validity): step 1.7 without the ring.
    keys = {r.key_id: (verify_key_for(r.public_key), r.principal, r.valid_from, r.end, r.revoked_at) for r in records}
    uses = {} if revoked_uses is None else revoked_uses
    cases = 0
    worst: Failure | None = None
    case: str | None = None
    dead: str | None = None
    want_n, head = 1, b""
    for row in rows:
        pos, rcase, n, state = row
        if rcase != case:
            case, want_n, head = rcase, 1, genesis_prev(rcase)
            cases += 1
        if case == dead:
            continue
        try:
            data, sig = decode_record(state, limits=limits)  # step 1.1
            m = entry_map(data, limits=limits)  # step 1.2
            k = keys.get(m["key"])
            ehash = entry_hash(data)
            ok = (k is not None and m["case"] == case and m["n"] == n == want_n  # steps 1.3, 1.5
                  and m["prev"] == head  # step 1.6
                  and k[1] == m["actor"] and k[2] <= m["occurred_at"] < k[3])  # step 1.7
            if ok and k is not None:  # (ok implies a known key)
                k[0].verify(pae(ENTRY_CONTEXT, ehash), sig)  # step 1.4
        except (LedgerError, BadSignatureError, ValueError):
            ok = False
        if ok and k is not None:  # (ok implies a known key)
            want_n, head = n + 1, ehash
            if k[4] is not None:  # the key is revoked: step 5.7 checks when it was recorded
                uses[pos] = (k[4], case, n)
            continue
        f = _explain(row, pubkeys, ring, ChainCursor(case, want_n - 1, Digest(head) if want_n > 1 else None), limits)
        if f is None:  # the precise checks accept what the fast ones did not (cannot happen today)
            data = decode_record(state, limits=limits)[0]
            want_n, head = n + 1, entry_hash(data)
            rec = ring.get(entry_map(data, limits=limits)["key"])
            if rec is not None and rec.revoked_at is not None:
                uses[pos] = (rec.revoked_at, case, n)
            continue
        dead = case
        if worst is None or (f.position or 0) < (worst.position or 0):
            worst = f
    return len(rows), cases, worst


def _explain(row: Row, pubkeys: dict[bytes, bytes], ring: KeyRing, cursor: ChainCursor,
             limits: Limits) -> Failure | None:
    """Steps 1.1-1.7 for one row, one at a time: the failure naming the step, or None."""
    c = check_row(row, pubkeys, limits)
    if c.error is not None:
        return c.error
    try:
        # Step 1.5 and 1.6: numbering and prev link (ChainCursor.advance).
        cursor.advance(_EntryView(c), Digest(c.ehash))
        # Step 1.7: the key belongs to the actor and is valid at occurred_at.
        ring.check(c.key, c.actor, c.occurred_at)
    except VerificationError as err:
        return Failure(err.step, err.code, err.message, c.position, c.case, c.n, err.expected, err.actual)
    except KeyRegistryError as err:
        return Failure("1.7", err.code, err.message, c.position, c.case, c.n,
                       "key valid for actor at occurred_at", c.key.hex())
    return None


def build_keyring(rows: Iterable[Row], report: VerificationReport, limits: Limits = DEFAULT_LIMITS) -> KeyRing:
    """Steps 1.0-1.6 on the key-registry stream, whose entries authorise every other key."""
    ring = KeyRing()
    cursor = ChainCursor(KEY_REGISTRY_ID)
    pubkeys: dict[bytes, bytes] = {}
    for row in rows:
        pos, case, n, state = row
        try:
            data, _ = decode_record(state, limits=limits)
            e = decode_entry(data, limits=limits)
            # Step 1.0: registry entries are authorised by the root key valid at occurred_at.
            ring.authorise_registry_entry(n, e.key, e.actor, e.occurred_at, e.type, e.body)
            if n == 1:
                pubkeys[e.key] = e.body["public_key"]
            else:
                rec = ring.get(e.key)
                assert rec is not None
                pubkeys[e.key] = rec.public_key
        except LedgerError as err:
            report.fail(Failure("1.0", err.code, err.message, pos, case, n))
            return ring
        c = check_row(row, pubkeys, limits)
        if c.error is not None:
            report.fail(c.error)
            return ring
        try:
            cursor.advance(e, Digest(c.ehash))
            ring.apply(e.type, e.body)
        except VerificationError as err:
            report.fail(Failure(err.step, err.code, err.message, pos, case, n, err.expected, err.actual))
            return ring
        except LedgerError as err:
            report.fail(Failure("1.0", err.code, err.message, pos, case, n))
            return ring
        for rec in ring.records():
            pubkeys[rec.key_id] = rec.public_key
        report.entries += 1
    report.keys = len(ring)
    return ring


def case_batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    """Cut the ordered row stream into batches of about ``size`` rows, never splitting a case."""
    batch: list[Row] = []
    for row in rows:
        if len(batch) >= size and row[1] != batch[-1][1]:
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def verify_cases(
    rows: Iterable[Row],
    ring: KeyRing,
    report: VerificationReport,
    *,
    batch: int = 4000,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Steps 1.1-1.7 over rows ordered by (case, n), in this process, in bounded batches.

    Parallel verification splits the cases by range instead (``ledger.audit``), each worker
    calling :func:`check_cases` on the rows it reads itself.
    """
    for b in case_batches(rows, batch):
        entries, cases, failure = check_cases(b, ring, revoked_uses=report.revoked_uses)
        report.entries += entries
        report.cases += cases
        if failure is not None:
            report.fail(failure)
        if progress is not None:
            progress(entries)


@dataclass(frozen=True, slots=True)
class _EntryView:
    """The fields of a checked row that ChainCursor reads."""

    c: Checked

    @property
    def case(self) -> str:
        return self.c.case

    @property
    def n(self) -> int:
        return self.c.n

    @property
    def prev(self) -> bytes:
        return self.c.prev
