"""The RFC 9162 Merkle log: leaves, tree hashes, proofs (docs/spec/03-chain-and-log.md).

Pure functions only: this module reads no clock, does no I/O and imports only the standard
library and the ledger's canonical encoding. It has four parts.

* **Hashing** (spec 03 §Leaves, §Tree): :func:`leaf_data`, :func:`leaf_hash`,
  :func:`node_hash`, :func:`root_of`.
* **Compact ranges** (spec 03 §Tree, "Frontier"): :class:`Frontier` keeps the roots of the
  perfect subtrees that make up a tree of any size, so an append costs amortised O(1) hashes
  and reports the complete subtrees it closed, for a store to cache.
* **Proof generation** (spec 03 §Proofs): :func:`inclusion_proof` and
  :func:`consistency_proof` turn (index, size) into the list of *perfect* subtrees they need
  (:data:`NodeId`), ask a :class:`NodeFetcher` for all of them in one call, and fold them.
  A store that caches every complete subtree can thus serve any proof, for any older size,
  with O(log n) reads.
* **Verification** (spec 06 steps 3.1-3.12), in the shape of transparency-dev/merkle
  ``proof/verify.go``: ``root_from_*`` computes, ``verify_*`` compares. The verifier derives
  the path from (index, size) alone; it never reads direction bits from the prover.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ledger.errors import EncodingError, ProofError, UsageError
from ledger.hashing import Digest
from ledger.limits import DEFAULT_LIMITS, Limits

HASH_SIZE = 32
"""Bytes in every tree hash (SHA-256)."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = Digest(hashlib.sha256(b"").digest())
"""MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1)."""

_SIG_SIZE = 64
_U63 = 2**63 - 1

NodeId = tuple[int, int]
"""``(level, index)`` of a perfect subtree: it covers leaves ``[index << level, (index + 1) << level)``.

Level 0 is a leaf. Only *complete* subtrees have a NodeId; their hashes never change once the
log has grown past them, which is what makes them cacheable.
"""


class NodeFetcher(Protocol):
    """Source of perfect-subtree hashes for proof generation (a store, or a list in memory).

    Called once per proof with every node the proof needs. It must return a hash for each
    requested :data:`NodeId` (extra entries are ignored) or raise.
    """

    def __call__(self, nodes: Collection[NodeId], /) -> Mapping[NodeId, bytes]:
        """The hash of every node in ``nodes``, by NodeId."""
        ...


# ---------------------------------------------------------------------------------------------
# Hashing (spec 03 §Leaves, §Tree)
# ---------------------------------------------------------------------------------------------


def leaf_data(entry_hash: bytes, signature: bytes, recorded_at: int, index: int) -> bytes:
    """The bytes a leaf commits to (spec 03 §Leaves).

    ``encode({"entry_hash": entry_hash, "index": index, "recorded_at": recorded_at,
    "sig": signature})`` in canonical msgpack, so keys appear in that (bytewise) order.

    Args:
        entry_hash: 32-byte entry hash (spec 02 §Hashes).
        signature: 64-byte Ed25519 signature over the entry.
        recorded_at: integer microseconds UTC at which the ledger appended the entry.
        index: the leaf's position in the global log, from 0.

    Raises:
        EncodingError: a field is malformed (code ``E_LEAF``).
    """
    return _leaf_bytes(b"", entry_hash, signature, recorded_at, index)


def _leaf_bytes(prefix: bytes, entry_hash: bytes, signature: bytes, recorded_at: int, index: int) -> bytes:
    """``prefix ‖ leaf_data(...)``, checking every field (:func:`leaf_data`)."""
    if not isinstance(entry_hash, bytes) or len(entry_hash) != HASH_SIZE:
        msg = "leaf entry_hash must be 32 bytes"
        raise EncodingError(msg, code="E_LEAF")
    if not isinstance(signature, bytes) or len(signature) != _SIG_SIZE:
        msg = "leaf sig must be 64 bytes"
        raise EncodingError(msg, code="E_LEAF")
    if type(recorded_at) is not int or not 0 <= recorded_at <= _U63:
        msg = "leaf recorded_at must be an integer in 0..2**63-1"
        raise EncodingError(msg, code="E_LEAF")
    if type(index) is not int or not 0 <= index <= _U63:
        msg = "leaf index must be an integer in 0..2**63-1"
        raise EncodingError(msg, code="E_LEAF")
    # The canonical map written by layout: its keys are fixed and already in order, and each
    # integer is msgpack's shortest form (checked against encoding.encode in tests).
    return b"".join((prefix, _LEAF_HEAD, entry_hash, _LEAF_INDEX, _uint(index), _LEAF_RECORDED,
                     _uint(recorded_at), _LEAF_SIG, signature))


def _uint(n: int) -> bytes:
    """The shortest msgpack encoding of an integer in 0..2**64-1."""
    if n < len(_FIXINT):
        return _FIXINT[n]
    head, width = _UINT_FORMS[(n.bit_length() + 7) >> 3]
    return head + n.to_bytes(width, "big")


_FIXINT = [bytes((i,)) for i in range(0x80)]
"""Positive fixint: an integer below 128 is its own byte."""
_UINT_FORMS = [(b"", 0), (b"\xcc", 1), (b"\xcd", 2), (b"\xce", 4), (b"\xce", 4), *[(b"\xcf", 8)] * 4]
"""msgpack uint 8/16/32/64 (marker, width) by the number of bytes the integer needs."""
_LEAF_HEAD = b"\x84\xaaentry_hash\xc4\x20"
_LEAF_INDEX = b"\xa5index"
_LEAF_RECORDED = b"\xabrecorded_at"
_LEAF_SIG = b"\xa3sig\xc4\x40"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> Digest:
    """``SHA-256(0x00 ‖ data)`` (RFC 9162 §2.1.1; spec 03 §Leaves)."""
    return Digest(hashlib.sha256(LEAF_PREFIX + data).digest())


def node_hash(left: bytes, right: bytes) -> Digest:
    """``SHA-256(0x01 ‖ left ‖ right)`` (RFC 9162 §2.1.1; spec 03 §Tree)."""
    return Digest(hashlib.sha256(NODE_PREFIX + left + right).digest())


def compute_leaf_hash(entry_hash: bytes, signature: bytes, recorded_at: int, index: int) -> Digest:
    """``leaf_hash(leaf_data(...))``: the hash of the leaf for one committed entry."""
    return _sha256(_leaf_bytes(LEAF_PREFIX, entry_hash, signature, recorded_at, index)).digest()  # type: ignore[return-value]


def split_point(n: int) -> int:
    """The largest power of two strictly less than ``n`` (RFC 9162 §2.1.1's ``k``); needs n >= 2."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> Digest:
    """MTH of a list of leaf hashes (RFC 9162 §2.1.1); ``EMPTY_ROOT`` for an empty list.

    Runs in O(n) time and O(log n) memory through a :class:`Frontier`.
    """
    frontier = Frontier()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


# ---------------------------------------------------------------------------------------------
# Compact ranges (spec 03 §Tree, "Frontier")
# ---------------------------------------------------------------------------------------------


def perfect_nodes(start: int, end: int) -> list[NodeId]:
    """Split the leaf range ``[start, end)`` into maximal aligned perfect subtrees, left to right.

    For ``[0, size)`` this is the frontier of a tree of that size: one node per set bit of
    ``size``, largest first. For any range that is itself a subtree of the RFC tree (its start
    is a multiple of a power of two >= its width), the subtree hash is these nodes folded right
    to left (:func:`fold_nodes`).
    """
    if not 0 <= start <= end:
        msg = f"bad leaf range [{start}, {end})"
        raise UsageError(msg)
    out: list[NodeId] = []
    while start < end:
        # Largest level such that start is aligned to it and the node fits in the range.
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        out.append((level, start >> level))
        start += 1 << level
    return out


def inorder_position(node: NodeId) -> int:
    """Position of a perfect subtree in the in-order (flat-tree) numbering of all nodes.

    Leaf ``i`` is at ``2i``; node ``(level, idx)`` is at ``idx * 2**(level + 1) + 2**level - 1``,
    the gap between its two halves. Positions are unique across levels and below ``2 * size``,
    so a store can key every node of any level by one integer.
    """
    level, idx = node
    return (idx << (level + 1)) + (1 << level) - 1


def fold_nodes(hashes: Sequence[bytes]) -> Digest:
    """Hash of a subtree from its perfect parts (left to right): fold from the right."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return Digest(acc)


@dataclass(slots=True)
class Frontier:
    """The compact range ``[0, size)``: one hash per set bit of ``size``, largest subtree first.

    ``append`` merges equal-sized neighbours like a binary counter, so it costs amortised O(1)
    node hashes, and returns the complete subtrees (level >= 1) it closed, which a store caches.
    """

    size: int = 0
    hashes: list[Digest] = field(default_factory=list)

    def append(self, leaf: bytes) -> list[tuple[NodeId, Digest]]:
        """Add one leaf hash; return the ``(NodeId, hash)`` of each newly completed subtree."""
        if len(leaf) != HASH_SIZE:
            msg = "leaf hash must be 32 bytes"
            raise UsageError(msg)
        closed: list[tuple[NodeId, Digest]] = []
        h = Digest(bytes(leaf))
        idx = self.size
        level = 0
        while idx & 1:
            h = node_hash(self.hashes.pop(), h)
            level += 1
            idx >>= 1
            closed.append(((level, idx), h))
        self.hashes.append(h)
        self.size += 1
        return closed

    def extend(self, leaves: Iterable[bytes]) -> list[tuple[NodeId, Digest]]:
        """Append many leaf hashes; return every completed subtree, in order."""
        closed: list[tuple[NodeId, Digest]] = []
        for leaf in leaves:
            closed.extend(self.append(leaf))
        return closed

    def root(self) -> Digest:
        """MTH of the ``size`` leaves seen so far."""
        return fold_nodes(self.hashes)

    def nodes(self) -> list[NodeId]:
        """The NodeIds of ``hashes``, in the same order."""
        return perfect_nodes(0, self.size)

    def to_bytes(self) -> bytes:
        """The hashes concatenated (the size is stored beside them)."""
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Inverse of :meth:`to_bytes`; checks the hash count against ``size``."""
        n = size.bit_count()
        if size < 0 or len(data) != n * HASH_SIZE:
            msg = f"frontier of {len(data)} bytes does not fit size {size}"
            raise UsageError(msg)
        return cls(size, [Digest(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)])


# ---------------------------------------------------------------------------------------------
# Proof generation (spec 03 §Proofs)
# ---------------------------------------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose subtree hashes form ``PATH(index, D[size])`` (RFC 9162 §2.1.3.1), bottom up."""
    if not 0 <= index < size:
        msg = f"no inclusion proof for index {index} in a tree of size {size}"
        raise UsageError(msg)
    top_down: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            top_down.append((start + k, end))
            end = start + k
        else:
            top_down.append((start, start + k))
            start += k
    top_down.reverse()
    return top_down


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form ``PROOF(size1, D[size2])`` (RFC 9162 §2.1.4.1), in proof order."""
    if not 0 < size1 <= size2:
        msg = f"no consistency proof from size {size1} to size {size2}"
        raise UsageError(msg)
    if size1 == size2:
        return []
    # SUBPROOF(m, D[start:end], b), unrolled.
    ups: list[tuple[int, int]] = []
    start, end, m, b = 0, size2, size1, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            ups.append((start + k, end))
            end = start + k
        else:
            ups.append((start, start + k))
            start, m, b = start + k, m - k, False
    base = [] if b else [(start, end)]
    ups.reverse()
    return base + ups


def _generate(ranges: list[tuple[int, int]], fetch: NodeFetcher) -> list[Digest]:
    parts = [perfect_nodes(s, e) for s, e in ranges]
    wanted = {node for nodes in parts for node in nodes}
    got = fetch(wanted)
    out: list[Digest] = []
    for nodes in parts:
        try:
            hashes = [got[n] for n in nodes]
        except KeyError as e:
            msg = f"node fetcher did not return node {e.args[0]}"
            raise UsageError(msg) from None
        out.append(fold_nodes(hashes))
    return out


def inclusion_proof(index: int, size: int, fetch: NodeFetcher) -> list[Digest]:
    """Generate the inclusion proof for leaf ``index`` in the tree of ``size`` leaves.

    The fetcher is called once, with O(log size) perfect subtrees, all of which lie inside
    ``[0, size)``, so an append-only cache of complete subtrees can serve any older size.

    Raises:
        UsageError: ``index`` is not in ``[0, size)`` or the fetcher returned too little.
    """
    return _generate(inclusion_ranges(index, size), fetch)


def consistency_proof(size1: int, size2: int, fetch: NodeFetcher) -> list[Digest]:
    """Generate the consistency proof from ``size1`` to ``size2`` (RFC 9162 §2.1.4.1).

    Raises:
        UsageError: unless ``0 < size1 <= size2``, or the fetcher returned too little.
    """
    return _generate(consistency_ranges(size1, size2), fetch)


def root_at(size: int, fetch: NodeFetcher) -> Digest:
    """MTH of the first ``size`` leaves from O(log size) cached perfect subtrees."""
    if size < 0:
        msg = "size must be >= 0"
        raise UsageError(msg)
    nodes = perfect_nodes(0, size)
    got = fetch(nodes) if nodes else {}
    return fold_nodes([got[n] for n in nodes])


def memory_fetcher(leaf_hashes: Sequence[bytes]) -> NodeFetcher:
    """A :class:`NodeFetcher` over an in-memory list of leaf hashes (for tests and tools)."""
    cache: dict[NodeId, bytes] = {}

    def node(level: int, idx: int) -> bytes:
        key = (level, idx)
        if key not in cache:
            if level == 0:
                cache[key] = leaf_hashes[idx]
            else:
                cache[key] = node_hash(node(level - 1, 2 * idx), node(level - 1, 2 * idx + 1))
        return cache[key]

    def fetch(nodes: Collection[NodeId]) -> Mapping[NodeId, bytes]:
        return {n: node(*n) for n in nodes}

    return fetch


# ---------------------------------------------------------------------------------------------
# Verification (spec 06 steps 3.1-3.12), after transparency-dev/merkle proof/verify.go
# ---------------------------------------------------------------------------------------------


def _check_proof_shape(proof: Sequence[bytes], limits: Limits, step: str) -> None:
    if len(proof) > limits.max_proof_hashes:
        raise ProofError(step, "proof has too many hashes",
                         expected=f"<= {limits.max_proof_hashes}", actual=len(proof))
    for i, h in enumerate(proof):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ProofError(step, f"proof hash {i} is not {HASH_SIZE} bytes",
                             expected=HASH_SIZE, actual=len(h) if isinstance(h, bytes) else type(h).__name__)


def _decomp_incl_proof(index: int, size: int) -> tuple[int, int]:
    """(inner, border) lengths of the inclusion path, derived from (index, size) alone."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def root_from_inclusion_proof(
    index: int,
    size: int,
    leaf: bytes,
    proof: Sequence[bytes],
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> Digest:
    """Compute the root implied by an inclusion proof (RFC 9162 §2.1.3.2; spec 06 steps 3.1-3.4).

    Preconditions, checked in this order before any hashing: ``0 <= index < size``; ``leaf``
    is 32 bytes; the proof has at most ``limits.max_proof_hashes`` hashes of 32 bytes each;
    its length is exactly the path length derived from (index, size).

    Args:
        index: the leaf's position, from 0.
        size: the tree size the proof is for.
        leaf: the leaf *hash* (``leaf_hash(leaf_data(...))``).
        proof: sibling hashes, bottom up.
        limits: bounds on untrusted input.

    Returns:
        The root hash of the tree of ``size`` leaves, if the proof is honest.

    Raises:
        ProofError: a precondition fails; ``step`` names it.
    """
    # Step 3.1: the leaf index is less than the tree size.
    if not 0 <= index < size:
        raise ProofError("3.1", "leaf index is not less than the tree size",
                         expected=f"0 <= index < {size}", actual=index)
    # Step 3.2: the leaf hash is exactly 32 bytes.
    if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
        raise ProofError("3.2", "leaf hash is not 32 bytes", expected=HASH_SIZE,
                         actual=len(leaf) if isinstance(leaf, bytes) else type(leaf).__name__)
    # Step 3.3: the proof holds at most Limits.max_proof_hashes hashes, each exactly 32 bytes.
    _check_proof_shape(proof, limits, "3.3")
    # Step 3.4: the proof length equals inner + border, derived from (index, size) alone.
    inner, border = _decomp_incl_proof(index, size)
    if len(proof) != inner + border:
        raise ProofError("3.4", "wrong inclusion proof length", expected=inner + border, actual=len(proof))
    res = _chain_inner(leaf, proof[:inner], index)
    return Digest(_chain_border_right(res, proof[inner:]))


def verify_inclusion(
    index: int,
    size: int,
    leaf: bytes,
    proof: Sequence[bytes],
    root: bytes,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Check that ``leaf`` is at ``index`` in the tree of ``size`` leaves with ``root``.

    Spec 06 steps 3.1-3.5 (RFC 9162 §2.1.3.2). ``root`` is compared as an opaque byte string.

    Raises:
        ProofError: with the failing step, expected and actual values.
    """
    calc = root_from_inclusion_proof(index, size, leaf, proof, limits=limits)
    # Step 3.5: the root computed from the proof equals the trusted root.
    if calc != root:
        raise ProofError("3.5", "inclusion proof does not lead to the trusted root",
                         expected=bytes(root).hex(), actual=calc.hex())


def root_from_consistency_proof(
    size1: int,
    size2: int,
    proof: Sequence[bytes],
    root1: bytes,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> Digest:
    """Compute the newer root implied by a consistency proof (RFC 9162 §2.1.4.2; spec 06 3.6-3.11).

    Preconditions, checked first: ``size1 <= size2``; ``size1 > 0`` (a proof from the empty
    tree proves nothing, and is refused); at most ``limits.max_proof_hashes`` hashes of 32
    bytes each; when ``size1 == size2`` the proof is empty; otherwise its length is exactly
    the one derived from (size1, size2). The older root is checked against ``root1`` here
    (step 3.11), as in verify.go, so the result is only returned for a proof that is
    consistent with ``root1``.

    Returns:
        The root of the tree of ``size2`` leaves (``root1`` itself when the sizes are equal).

    Raises:
        ProofError: with the failing step, expected and actual values.
    """
    # Step 3.6: the older size is not greater than the newer size.
    if size1 > size2:
        raise ProofError("3.6", "older tree size exceeds newer tree size",
                         expected=f"size1 <= {size2}", actual=size1)
    # Step 3.7: the older size is at least 1 (a proof from the empty tree is meaningless).
    if size1 < 1:
        raise ProofError("3.7", "consistency from an empty tree is meaningless",
                         expected="size1 >= 1", actual=size1)
    # Step 3.8: the proof holds at most Limits.max_proof_hashes hashes, each exactly 32 bytes.
    _check_proof_shape(proof, limits, "3.8")
    # Step 3.9: when the sizes are equal the proof is empty (and the roots must be equal, 3.12).
    if size1 == size2:
        if proof:
            raise ProofError("3.9", "sizes are equal but the proof is not empty",
                             expected=0, actual=len(proof))
        return Digest(bytes(root1))

    inner, border = _decomp_incl_proof(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    # When size1 is a power of two the older root is itself the first node of the path.
    seed_from_root = size1 == 1 << shift
    want = (0 if seed_from_root else 1) + inner + border
    # Step 3.10: the proof length equals the length derived from (size1, size2) alone.
    if len(proof) != want:
        raise ProofError("3.10", "wrong consistency proof length", expected=want, actual=len(proof))
    if seed_from_root:
        seed, rest = bytes(root1), proof
    else:
        seed, rest = proof[0], proof[1:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    # Step 3.11: the older root computed from the proof equals root1.
    if hash1 != root1:
        raise ProofError("3.11", "consistency proof does not lead to the older root",
                         expected=bytes(root1).hex(), actual=hash1.hex())
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    return Digest(hash2)


def verify_consistency(
    size1: int,
    size2: int,
    proof: Sequence[bytes],
    root1: bytes,
    root2: bytes,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Check that the tree ``(size2, root2)`` extends the tree ``(size1, root1)``.

    Spec 06 steps 3.6-3.12 (RFC 9162 §2.1.4.2). Roots are compared as opaque byte strings.

    Raises:
        ProofError: with the failing step, expected and actual values.
    """
    calc = root_from_consistency_proof(size1, size2, proof, root1, limits=limits)
    # Step 3.12: the newer root computed from the proof equals root2.
    if calc != root2:
        raise ProofError("3.12", "consistency proof does not lead to the newer root",
                         expected=bytes(root2).hex(), actual=calc.hex())


VERIFY_STEPS = ("3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12")
"""Step ids this module raises; a test checks each against the spec."""

__all__ = [
    "EMPTY_ROOT", "HASH_SIZE", "Frontier", "NodeFetcher", "NodeId", "compute_leaf_hash",
    "consistency_proof", "consistency_ranges", "fold_nodes", "inclusion_proof", "inclusion_ranges", "inorder_position",
    "leaf_data", "leaf_hash", "memory_fetcher", "node_hash", "perfect_nodes", "root_at",
    "root_from_consistency_proof", "root_from_inclusion_proof", "root_of", "split_point",
    "verify_consistency", "verify_inclusion",
]
