"""``check_cases`` (the verifier's fast loop) reports exactly what the step-by-step checks report.

The reference below is the plain reading of spec 06 steps 1.1-1.7: ``check_row`` then
``ChainCursor.advance`` then ``KeyRing.check`` for every row. Hypothesis tampers with rows of a
small in-memory ledger (flipped bytes, deleted, swapped or duplicated rows, broken links, gaps, entries signed by a
revoked, expired or someone else's key, back-dated entries) and both must name the same first
failure.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from ledger.application import key_body
from ledger.chain import ChainCursor, Entry, decode_record, encode_entry, encode_record
from ledger.errors import EncodingError, KeyRegistryError, VerificationError
from ledger.hashing import Digest, entry_hash, genesis_prev, key_id
from ledger.keys import KEY_OPENED, KEY_REGISTERED, KEY_REVOKED, KeyRing
from ledger.signing import ENTRY_CONTEXT, sign
from ledger.verify import Failure, Row, _EntryView, check_cases, check_row

T0 = 1_760_000_000_000_000
ROOT = SigningKey(bytes([1]) * 32)
KEYS = {f"o{i}": SigningKey(bytes([20 + i]) * 32) for i in range(3)}
REVOKED_AT = T0 + 500


def ring() -> KeyRing:
    r = KeyRing()
    r.apply(KEY_OPENED, key_body(ROOT, "root", "root", "custodial", T0 - 10))
    for who, sk in KEYS.items():
        until = T0 + 900 if who == "o1" else None  # o1 expires, o2 is revoked
        r.apply(KEY_REGISTERED, key_body(sk, who, "officer", "custodial", T0, until))
    r.apply(KEY_REVOKED, {"key_id": key_id(bytes(KEYS["o2"].verify_key)), "revoked_at": REVOKED_AT})
    return r


def record(case: str, n: int, actor: str, at: int, prev: bytes, signer: str | None = None,
           body: dict[str, Any] | None = None) -> tuple[bytes, bytes]:
    sk = KEYS[signer or actor]
    e = Entry(case=case, n=n, type="test.noted.v1", occurred_at=at, actor=actor,
              key=key_id(bytes(sk.verify_key)), prev=prev, body=body or {"i": n})
    data = encode_entry(e)
    h = entry_hash(data)
    return encode_record(data, sign(sk, ENTRY_CONTEXT, h)), h


def ledger(cases: int, per_case: int) -> list[Row]:
    rows: list[Row] = []
    pos = 0
    for c in range(cases):
        case = f"00000000-0000-4000-8000-{c:012d}"
        prev = genesis_prev(case)
        for n in range(1, per_case + 1):
            pos += 1
            rec, prev = record(case, n, f"o{(c + n) % 2}", T0 + 10 * n, prev)
            rows.append((pos, case, n, rec))
    return rows


def reference(rows: list[Row], r: KeyRing) -> tuple[int, int, Failure | None]:
    pubkeys = {k.key_id: k.public_key for k in r.records()}
    cursor: ChainCursor | None = None
    cases, worst, dead = 0, None, None
    for row in rows:
        if cursor is None or cursor.case != row[1]:
            cursor, cases = ChainCursor(row[1]), cases + 1
        if row[1] == dead:
            continue
        c = check_row(row, pubkeys)
        f = c.error
        if f is None:
            try:
                cursor.advance(_EntryView(c), Digest(c.ehash))
                r.check(c.key, c.actor, c.occurred_at)
            except VerificationError as err:
                f = Failure(err.step, err.code, err.message, c.position, c.case, c.n, err.expected, err.actual)
            except KeyRegistryError as err:
                f = Failure("1.7", err.code, err.message, c.position, c.case, c.n,
                            "key valid for actor at occurred_at", c.key.hex())
        if f is not None:
            dead = row[1]
            if worst is None or (f.position or 0) < (worst.position or 0):
                worst = f
    return len(rows), cases, worst


def tamper(rows: list[Row], kind: str, i: int, j: int) -> list[Row]:
    rows = list(rows)
    pos, case, n, state = rows[i]
    prev = genesis_prev(case) if n == 1 else _hash_of(rows[i - 1][3])
    if kind == "flip":
        b = bytearray(state)
        b[j % len(b)] ^= 1 << (j % 8)
        rows[i] = (pos, case, n, bytes(b))
    elif kind == "delete":
        del rows[i]
    elif kind == "swap" and i + 1 < len(rows):
        (p1, c1, n1, s1), (p2, c2, n2, s2) = rows[i], rows[i + 1]
        rows[i], rows[i + 1] = (p1, c1, n1, s2), (p2, c2, n2, s1)
    elif kind == "duplicate":
        rows.insert(i + 1, rows[i])
    elif kind == "revoked":  # signed by o2 after its revocation
        rows[i] = (pos, case, n, record(case, n, "o2", REVOKED_AT + j, prev)[0])
    elif kind == "expired":
        rows[i] = (pos, case, n, record(case, n, "o1", T0 + 900 + j, prev)[0])
    elif kind == "early":
        rows[i] = (pos, case, n, record(case, n, "o0", T0 - 1 - j, prev)[0])
    elif kind == "wrong_actor":  # o1's valid key signing as o0
        rows[i] = (pos, case, n, record(case, n, "o0", T0 + 10, prev, signer="o1")[0])
    elif kind == "bad_prev":  # the right key, a link to somewhere else
        rows[i] = (pos, case, n, record(case, n, f"o{j % 2}", T0 + 10, bytes([j % 256]) * 32)[0])
    elif kind == "renumber":  # a gap in the numbering, correctly linked and signed
        rows[i] = (pos, case, n + 1, record(case, n + 1, "o0", T0 + 10, prev)[0])
    elif kind == "wrong_case":
        rows[i] = (pos, case, n, record("elsewhere", n, "o0", T0 + 10, prev)[0])
    return rows


def _hash_of(state: bytes) -> bytes:
    """The entry hash of a stored record, or a placeholder if an earlier tamper broke it."""
    try:
        return entry_hash(decode_record(state)[0])
    except EncodingError:
        return bytes(32)


BASE = ledger(4, 5)
KINDS = ["flip", "delete", "swap", "duplicate", "revoked", "expired", "early", "wrong_actor", "wrong_case",
         "bad_prev", "renumber"]


def test_an_intact_ledger_passes_both() -> None:
    assert check_cases(BASE, ring()) == reference(BASE, ring()) == (20, 4, None)


@settings(max_examples=300, deadline=None)
@given(kinds=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, len(BASE) - 2), st.integers(0, 400)),
                      min_size=1, max_size=3))
def test_fast_loop_names_the_same_first_failure_as_the_steps(kinds: list[tuple[str, int, int]]) -> None:
    rows = BASE
    for kind, i, j in kinds:
        rows = tamper(rows, kind, min(i, len(rows) - 1), j)
    got, want = check_cases(rows, ring()), reference(rows, ring())
    assert got == want
    if rows != BASE and want[2] is not None:
        assert got[2] is not None
        assert got[2].step.startswith("1.")
