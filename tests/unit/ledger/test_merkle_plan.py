"""ledger.merkle_store's closed-form proof plans against ledger.merkle's range-based proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.errors import UsageError
from ledger.merkle_store import consistency_plan, inclusion_plan


def reference(ranges: list[tuple[int, int]]) -> list[int | tuple[int, ...]]:
    """The plan ledger.merkle implies: each range split into perfect nodes, as positions."""
    out: list[int | tuple[int, ...]] = []
    for s, e in ranges:
        pos = tuple(merkle.inorder_position(n) for n in merkle.perfect_nodes(s, e))
        out.append(pos[0] if len(pos) == 1 else pos)
    return out


def test_every_small_tree() -> None:
    for size in range(1, 130):
        for i in range(size):
            assert inclusion_plan(i, size) == reference(merkle.inclusion_ranges(i, size)), (i, size)
        for s1 in range(1, size + 1):
            assert consistency_plan(s1, size) == reference(merkle.consistency_ranges(s1, size)), (s1, size)


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 2**62), st.data())
def test_large_trees(size: int, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, size - 1))
    assert inclusion_plan(i, size) == reference(merkle.inclusion_ranges(i, size))
    s1 = data.draw(st.integers(1, size))
    assert consistency_plan(s1, size) == reference(merkle.consistency_ranges(s1, size))


def test_plans_fold_to_the_reference_proofs() -> None:
    leaves = [merkle.leaf_hash(hashlib.sha256(b"%d" % i).digest()) for i in range(45)]
    fetch = merkle.memory_fetcher(leaves)
    by_pos = {}
    for level in range(7):
        for idx in range(len(leaves) >> level):
            by_pos[merkle.inorder_position((level, idx))] = fetch([(level, idx)])[(level, idx)]

    def fold(plan: list[int | tuple[int, ...]]) -> list[bytes]:
        return [by_pos[x] if isinstance(x, int) else merkle.fold_nodes([by_pos[p] for p in x]) for x in plan]

    for size in range(1, 46):
        for i in range(size):
            assert fold(inclusion_plan(i, size)) == merkle.inclusion_proof(i, size, fetch)
        for s1 in range(1, size + 1):
            assert fold(consistency_plan(s1, size)) == merkle.consistency_proof(s1, size, fetch)


@pytest.mark.parametrize(("index", "size"), [(-1, 3), (3, 3), (0, 0)])
def test_bad_inclusion_arguments(index: int, size: int) -> None:
    with pytest.raises(UsageError):
        inclusion_plan(index, size)


@pytest.mark.parametrize(("size1", "size2"), [(0, 3), (4, 3), (-1, 2)])
def test_bad_consistency_arguments(size1: int, size2: int) -> None:
    with pytest.raises(UsageError):
        consistency_plan(size1, size2)
