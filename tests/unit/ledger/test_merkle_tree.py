"""ledger.merkle against RFC 9162's worked example and a literal recursive reference."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.errors import EncodingError, ProofError, UsageError
from ledger.limits import Limits

ROOT = Path(__file__).resolve().parents[3]


def mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1, written out recursively (the reference)."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def data(n: int) -> list[bytes]:
    return [b"leaf-%d" % i for i in range(n)]


# --- RFC 9162 §2.1.5: the seven-leaf example tree ------------------------------------------------

D = data(7)
a, b, c, d, e, f = (merkle.leaf_hash(x) for x in D[:6])
j = merkle.leaf_hash(D[6])  # d6 sits alone under j
g, h, i = merkle.node_hash(a, b), merkle.node_hash(c, d), merkle.node_hash(e, f)
k = merkle.node_hash(g, h)
l_ = merkle.node_hash(i, j)
FETCH = merkle.memory_fetcher([merkle.leaf_hash(x) for x in D])


@pytest.mark.parametrize(
    ("index", "path"),
    [(0, [b, h, l_]), (3, [c, g, l_]), (4, [f, j, k]), (6, [i, k])],
    ids=["d0_is_b_h_l", "d3_is_c_g_l", "d4_is_f_j_k", "d6_is_i_k"],
)
def test_inclusion_paths_match_rfc9162_example(index: int, path: list[bytes]) -> None:
    assert merkle.inclusion_proof(index, 7, FETCH) == path
    merkle.verify_inclusion(index, 7, merkle.leaf_hash(D[index]), path, merkle.node_hash(k, l_))


@pytest.mark.parametrize(
    ("size1", "proof"),
    [(3, [c, d, g, l_]), (4, [l_]), (6, [i, j, k])],
    ids=["hash0_3_leaves_is_c_d_g_l", "hash1_4_leaves_is_l", "hash2_6_leaves_is_i_j_k"],
)
def test_consistency_proofs_match_rfc9162_example(size1: int, proof: list[bytes]) -> None:
    assert merkle.consistency_proof(size1, 7, FETCH) == proof
    merkle.verify_consistency(size1, 7, proof, mth(D[:size1]), merkle.node_hash(k, l_))


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.root_of([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


# --- against the recursive reference ----------------------------------------------------------


@pytest.mark.parametrize("n", range(40))
def test_every_root_proof_and_frontier_agree_with_reference(n: int) -> None:
    d = data(n)
    hashes = [merkle.leaf_hash(x) for x in d]
    fetch = merkle.memory_fetcher(hashes)
    assert merkle.root_of(hashes) == mth(d)
    assert merkle.root_at(n, fetch) == mth(d)
    for size in range(1, n + 1):
        root = mth(d[:size])
        for idx in range(size):
            merkle.verify_inclusion(idx, size, hashes[idx], merkle.inclusion_proof(idx, size, fetch), root)
        for s1 in range(1, size + 1):
            merkle.verify_consistency(s1, size, merkle.consistency_proof(s1, size, fetch), mth(d[:s1]), root)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 5000), data_=st.data())
def test_random_sizes_prove_and_verify(size: int, data_: st.DataObject) -> None:
    hashes = [hashlib.sha256(b"x%d" % i).digest() for i in range(size)]
    fetch = merkle.memory_fetcher(hashes)
    root = merkle.root_of(hashes)
    idx = data_.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(idx, size, fetch)
    assert merkle.root_from_inclusion_proof(idx, size, hashes[idx], proof) == root
    s1 = data_.draw(st.integers(1, size))
    cproof = merkle.consistency_proof(s1, size, fetch)
    assert merkle.root_from_consistency_proof(s1, size, cproof, merkle.root_of(hashes[:s1])) == root
    # any single tampered hash is refused
    if proof:
        bad = list(proof)
        pos = data_.draw(st.integers(0, len(bad) - 1))
        bad[pos] = bytes([bad[pos][0] ^ 1]) + bad[pos][1:]
        with pytest.raises(ProofError):
            merkle.verify_inclusion(idx, size, hashes[idx], bad, root)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=40))
def test_frontier_closes_exactly_the_complete_subtrees(batches: list[int]) -> None:
    fr = merkle.Frontier()
    hashes: list[bytes] = []
    closed: dict[merkle.NodeId, bytes] = {}
    for n in batches:
        new = [hashlib.sha256(b"%d" % (len(hashes) + t)).digest() for t in range(n)]
        hashes += new
        closed.update(fr.extend(new))
        fr = merkle.Frontier.from_bytes(fr.size, fr.to_bytes())  # survives a round trip
    assert fr.root() == merkle.root_of(hashes)
    fetch = merkle.memory_fetcher(hashes)
    expected = {
        (lvl, idx) for lvl in range(1, 64) for idx in range(len(hashes) >> lvl)
    }
    assert set(closed) == expected
    assert dict(fetch(list(expected))) == closed


# --- preconditions and bad input ---------------------------------------------------------------

H = bytes(32)


@pytest.mark.parametrize(
    ("args", "step"),
    [
        ((3, 3, H, [H, H]), "3.1"),
        ((-1, 3, H, [H, H]), "3.1"),
        ((0, 0, H, []), "3.1"),
        ((0, 3, H[:31], [H, H]), "3.2"),
        ((0, 3, H, [H, H + b"\x00"]), "3.3"),
        ((0, 3, H, [H, H, H]), "3.4"),
        ((0, 3, H, [H]), "3.4"),
    ],
    ids=["index_equals_size", "negative_index", "empty_tree", "short_leaf", "long_proof_hash",
         "extra_hash", "missing_hash"],
)
def test_inclusion_preconditions_are_checked_first(args: tuple, step: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ProofError) as e:
        merkle.root_from_inclusion_proof(*args)
    assert e.value.step == step
    assert e.value.expected is not None
    assert e.value.actual is not None


def test_proof_longer_than_limit_is_refused_before_hashing() -> None:
    with pytest.raises(ProofError) as e:
        merkle.root_from_inclusion_proof(0, 2**70, H, [H] * 65)
    assert e.value.step == "3.3"
    with pytest.raises(ProofError) as e:
        merkle.root_from_inclusion_proof(0, 8, H, [H] * 3, limits=Limits(max_proof_hashes=2))
    assert e.value.step == "3.3"


def test_verifier_derives_the_path_itself() -> None:
    # A proof valid for leaf 4 does not prove leaf 4's hash at index 5 (no prover bits).
    hashes = [merkle.leaf_hash(x) for x in data(8)]
    fetch = merkle.memory_fetcher(hashes)
    proof = merkle.inclusion_proof(4, 8, fetch)
    with pytest.raises(ProofError) as e:
        merkle.verify_inclusion(5, 8, hashes[4], proof, merkle.root_of(hashes))
    assert e.value.step == "3.5"


def test_consistency_from_empty_tree_is_refused() -> None:
    with pytest.raises(ProofError) as e:
        merkle.verify_consistency(0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    assert e.value.step == "3.7"


def test_leaf_data_is_canonical_msgpack_in_key_order() -> None:
    raw = merkle.leaf_data(b"\x11" * 32, b"\x22" * 64, 5, 7)
    assert raw == (b"\x84" + b"\xaaentry_hash\xc4\x20" + b"\x11" * 32 + b"\xa5index\x07"
                   + b"\xabrecorded_at\x05" + b"\xa3sig\xc4\x40" + b"\x22" * 64)


@pytest.mark.parametrize(
    "args",
    [(b"\x11" * 31, b"\x22" * 64, 0, 0), (b"\x11" * 32, b"\x22" * 63, 0, 0), (b"\x11" * 32, b"\x22" * 64, -1, 0),
     (b"\x11" * 32, b"\x22" * 64, 0, 2**63), (b"\x11" * 32, b"\x22" * 64, True, 0)],
    ids=["short_entry_hash", "short_sig", "negative_time", "index_overflow", "bool_time"],
)
def test_leaf_data_refuses_bad_fields(args: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(EncodingError):
        merkle.leaf_data(*args)


def test_generation_refuses_impossible_requests() -> None:
    fetch = merkle.memory_fetcher([H] * 4)
    with pytest.raises(UsageError):
        merkle.inclusion_proof(4, 4, fetch)
    with pytest.raises(UsageError):
        merkle.consistency_proof(0, 4, fetch)
    with pytest.raises(UsageError):
        merkle.consistency_proof(3, 2, fetch)


# --- step ids in code match the spec text -------------------------------------------------------


def _spec_steps() -> dict[str, str]:
    """Step id -> wording, from spec 06 if assembled, else from spec 03's staging section."""
    steps: dict[str, str] = {}
    for name in ("06-verification.md", "03-chain-and-log.md", "04-checkpoints.md"):
        p = ROOT / "docs" / "spec" / name
        if p.exists():
            text = p.read_text(encoding="utf-8")
            for m in re.finditer(r"^\s*[-*]\s+\*\*(\d+(?:\.\d+)+)\*\*\s+(.+?)\s*$", text, re.MULTILINE):
                steps.setdefault(m.group(1), m.group(2))
    return steps


def _code_steps(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        m = re.match(r"\s*# Step (\d+(?:\.\d+)+): (.*)$", line)
        if not m:
            continue
        text = m.group(2)
        for cont in lines[n + 1 :]:
            cm = re.match(r"\s*# (?!Step )(.*)$", cont)
            if not cm:
                break
            text += " " + cm.group(1)
        out[m.group(1)] = text
    return out


def _norm(s: str) -> str:
    return re.sub(r"[`*]", "", s).strip().rstrip(".").lower()


@pytest.mark.parametrize("module", ["ledger/merkle.py", "ledger/checkpoint.py"])
def test_step_comments_quote_the_spec(module: str) -> None:
    spec = _spec_steps()
    code = _code_steps(ROOT / module)
    assert code, "no step comments found"
    for step, text in code.items():
        assert step in spec, f"step {step} of {module} is not in the spec"
        assert _norm(text) == _norm(spec[step]), f"step {step} wording drifted"


def test_every_raised_step_is_commented_and_specified() -> None:
    from ledger import checkpoint

    spec = _spec_steps()
    for mod, path in ((merkle, "ledger/merkle.py"), (checkpoint, "ledger/checkpoint.py")):
        code = _code_steps(ROOT / path)
        for step in mod.VERIFY_STEPS:
            assert step in code
            assert step in spec
        raised = set(re.findall(r'Error\(\s*"(\d+(?:\.\d+)+)"', (ROOT / path).read_text(encoding="utf-8")))
        raised |= set(re.findall(r'_malformed\(\s*"(\d+\.\d+)"', (ROOT / path).read_text(encoding="utf-8")))
        assert raised <= set(spec), raised - set(spec)


@given(eh=st.binary(min_size=32, max_size=32), sig=st.binary(min_size=64, max_size=64),
       recorded_at=st.integers(0, 2**63 - 1), index=st.integers(0, 2**63 - 1))
@settings(max_examples=200, deadline=None)
# Both sides of every boundary between msgpack's integer forms.
@example(eh=b"\x01" * 32, sig=b"\x02" * 64, recorded_at=0, index=127)
@example(eh=b"\x01" * 32, sig=b"\x02" * 64, recorded_at=128, index=255)
@example(eh=b"\x01" * 32, sig=b"\x02" * 64, recorded_at=256, index=65535)
@example(eh=b"\x01" * 32, sig=b"\x02" * 64, recorded_at=65536, index=2**32 - 1)
@example(eh=b"\x01" * 32, sig=b"\x02" * 64, recorded_at=2**32, index=2**63 - 1)
def test_leaf_data_written_by_layout_equals_the_generic_canonical_encoder(
        eh: bytes, sig: bytes, recorded_at: int, index: int) -> None:
    from ledger import encoding

    raw = merkle.leaf_data(eh, sig, recorded_at, index)
    assert merkle.compute_leaf_hash(eh, sig, recorded_at, index) == merkle.leaf_hash(raw)
    assert raw == encoding.encode({"entry_hash": eh, "index": index, "recorded_at": recorded_at, "sig": sig})
    assert encoding.decode(raw) == {"entry_hash": eh, "index": index, "recorded_at": recorded_at, "sig": sig}
