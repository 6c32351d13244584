"""MerkleStore's node cache and raw-driver paths, on a SQLite file and on PostgreSQL.

The cache may only ever hold committed hashes: a rolled-back append (whose nodes the same
transaction can read back) must not leave anything in it, and proofs served from it must equal
proofs read from the tables.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, create_engine, delete, exc, insert

from ledger import merkle
from ledger.errors import UsageError
from ledger.merkle_store import MerkleStore


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


def entry(i: int) -> tuple[bytes, bytes]:
    return hashlib.sha256(b"entry %d" % i).digest(), hashlib.sha512(b"sig %d" % i).digest()


def append_batches(engine: Engine, store: MerkleStore, sizes: list[int]) -> list[bytes]:
    """Append batches of leaves, one transaction each; return the reference leaf hashes."""
    ref: list[bytes] = []
    for b in sizes:
        leaves = [(100 + 3 * n, 1_700_000_000_000_000 + n, *entry(n)) for n in range(len(ref), len(ref) + b)]
        with engine.begin() as conn:
            idxs = store.append(conn, leaves)
        assert idxs == list(range(len(ref), len(ref) + b))
        ref += [merkle.compute_leaf_hash(eh, sig, ra, i) for (_n, ra, eh, sig), i in zip(leaves, idxs, strict=True)]
    return ref


def plant_run(engine: Engine, store: MerkleStore, nid: int) -> None:
    """Put a ``merkle_runs`` row for ``nid`` in the way: appending a leaf of that id then fails in the driver."""
    with engine.begin() as conn:
        conn.execute(insert(store.runs).values(notification_id=nid, idx=99))


def make_store(engine: Engine, **kw: int) -> MerkleStore:
    md = MetaData()
    s = MerkleStore(md, **kw)
    md.create_all(engine)
    return s


def other_leaves(first: int, n: int) -> list[tuple[int, int, bytes, bytes]]:
    """Leaves that differ from :func:`append_batches`' at the same indexes."""
    return [(10_000 + i, 5, *entry(50_000 + i)) for i in range(first, first + n)]


def reference(engine: Engine, store: MerkleStore) -> list[bytes]:
    with engine.connect() as conn:
        return [x.leaf_hash for x in store.iter_leaves(conn)]


def all_proofs(engine: Engine, store: MerkleStore, size: int) -> list[list[bytes]]:
    with engine.connect() as conn:
        out = [store.inclusion_proof(conn, i, size) for i in range(size)]
        out += [store.consistency_proof(conn, s1, size) for s1 in range(1, size + 1)]
        out.append([store.root(conn, s) for s in range(size + 1)])
    return out


def expected_proofs(ref: list[bytes], size: int) -> list[list[bytes]]:
    fetch = merkle.memory_fetcher(ref)
    out = [merkle.inclusion_proof(i, size, fetch) for i in range(size)]
    out += [merkle.consistency_proof(s1, size, fetch) for s1 in range(1, size + 1)]
    out.append([merkle.root_of(ref[:s]) for s in range(size + 1)])
    return out


class TestNodeCache:
    def test_rolled_back_append_does_not_poison_the_cache(self, engine: Engine) -> None:
        store = make_store(engine)
        append_batches(engine, store, [5, 1, 2])  # 8 leaves, committed
        all_proofs(engine, store, 8)  # warm the cache with the committed tree
        with pytest.raises(RuntimeError), engine.begin() as conn:  # noqa: PT012 - the block is the transaction that must roll back
            store.append(conn, other_leaves(8, 15))
            # Reads in the appending transaction see its uncommitted nodes (23 = 16 + 4 + 2 + 1
            # leaves, so proofs also fold cut subtrees)...
            for i in range(23):
                store.inclusion_proof(conn, i, 23)
            for s1 in range(1, 23):
                store.consistency_proof(conn, s1, 23)
            assert store.root(conn, 23) == store.root(conn)
            raise RuntimeError  # ...and then it rolls back.
        with engine.begin() as conn:  # other leaves take the same indexes and node positions
            assert store.append(conn, [(900 + i, 7, *entry(900 + i)) for i in range(15)]) == list(range(8, 23))
        ref = reference(engine, store)
        assert all_proofs(engine, store, 23) == expected_proofs(ref, 23)
        # And a store that never cached anything agrees.
        assert all_proofs(engine, make_store(engine, node_cache=0), 23) == expected_proofs(ref, 23)

    def test_another_store_appending_in_the_transaction_also_keeps_reads_out(self, engine: Engine) -> None:
        reader, writer = make_store(engine), make_store(engine)
        append_batches(engine, writer, [4])
        with pytest.raises(RuntimeError), engine.begin() as conn:  # noqa: PT012 - the block is the transaction that must roll back
            writer.append(conn, other_leaves(4, 12))
            for i in range(16):
                reader.inclusion_proof(conn, i, 16)
            raise RuntimeError
        with engine.begin() as conn:
            writer.append(conn, [(700 + i, 9, *entry(700 + i)) for i in range(12)])
        ref = reference(engine, writer)
        assert all_proofs(engine, reader, 16) == expected_proofs(ref, 16)

    def test_proofs_from_cache_equal_proofs_from_the_tables(self, engine: Engine) -> None:
        cached = make_store(engine, node_cache=64)  # small: most levels of 300 leaves stay in the tables
        append_batches(engine, cached, [1] * 20 + [100, 7, 173])
        size = 300
        plain = make_store(engine, node_cache=0)
        ref = reference(engine, plain)
        fetch = merkle.memory_fetcher(ref)
        rng = random.Random(7)
        queries = [(rng.randrange(size), rng.randrange(1, size + 1)) for _ in range(300)]
        with engine.connect() as conn:
            for _ in range(2):  # cold, then warm
                for i, s1 in queries:
                    s2 = rng.randrange(max(i + 1, s1), size + 1)
                    p = cached.inclusion_proof(conn, i, s2)
                    assert p == plain.inclusion_proof(conn, i, s2) == merkle.inclusion_proof(i, s2, fetch)
                    c = cached.consistency_proof(conn, s1, s2)
                    assert c == plain.consistency_proof(conn, s1, s2) == merkle.consistency_proof(s1, s2, fetch)
            assert cached.root(conn) == plain.root(conn) == merkle.root_of(ref)
            nodes = [(lvl, i) for lvl in range(9) for i in range(size >> lvl)]
            assert cached.fetcher(conn)(nodes) == plain.fetcher(conn)(nodes)
        cache = cached._caches[engine]  # the bound is part of the contract
        assert 0 < len(cache) <= 64
        assert not plain._caches

    def test_a_warm_cache_serves_upper_levels_without_the_tables(self, engine: Engine) -> None:
        store = make_store(engine)
        ref = append_batches(engine, store, [64])
        want = all_proofs(engine, store, 64)
        with engine.begin() as conn:  # the upper levels are gone from the tables, not from the cache
            conn.execute(delete(store.nodes))
        assert all_proofs(engine, store, 64) == want == expected_proofs(ref, 64)
        store.clear_cache()
        with engine.connect() as conn, pytest.raises(UsageError, match="no complete subtree"):
            store.inclusion_proof(conn, 0, 64)

    def test_cache_is_per_database(self, engine: Engine, tmp_path: Path) -> None:
        store = make_store(engine)
        append_batches(engine, store, [8])
        all_proofs(engine, store, 8)
        other = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
        try:
            store.metadata.create_all(other)
            with other.begin() as conn:
                store.append(conn, other_leaves(0, 8))
            ref = reference(other, store)
            assert all_proofs(other, store, 8) == expected_proofs(ref, 8)
        finally:
            other.dispose()


class TestAppendPaths:
    def test_two_writers_take_turns(self, engine: Engine) -> None:
        """Each store remembers its own frontier; the guarded insert notices the other's appends."""
        a, b = make_store(engine), make_store(engine)
        n = 0
        for k, w in enumerate([a, a, b, a, b, b, a]):
            with engine.begin() as conn:
                got = w.append(conn, [(3000 + n + j, 1, *entry(3000 + n + j)) for j in range(k % 3 + 1)])
            assert got == list(range(n, n + k % 3 + 1))
            n += len(got)
        ref = reference(engine, a)
        assert len(ref) == n
        assert all_proofs(engine, a, n) == all_proofs(engine, b, n) == expected_proofs(ref, n)

    def test_rolled_back_append_then_memo_path(self, engine: Engine) -> None:
        store = make_store(engine)
        append_batches(engine, store, [3])
        for _ in range(2):
            with pytest.raises(RuntimeError), engine.begin() as conn:  # noqa: PT012 - the block is the transaction that must roll back
                store.append(conn, other_leaves(3, 2))
                raise RuntimeError
        with engine.begin() as conn:
            assert store.append(conn, [(4000, 1, *entry(4000))]) == [3]
        with engine.begin() as conn:
            assert store.append(conn, [(4001, 1, *entry(4001)), (4002, 1, *entry(4002))]) == [4, 5]
        ref = reference(engine, store)
        assert all_proofs(engine, store, 6) == expected_proofs(ref, 6)

    def test_a_rolled_back_tail_replaced_by_another_writer_is_noticed(self, engine: Engine) -> None:
        """The remembered tail index still exists but holds another leaf: the frontier is read back."""
        a, b = make_store(engine), make_store(engine)
        append_batches(engine, a, [5])
        with pytest.raises(RuntimeError), engine.begin() as conn:  # noqa: PT012 - the block is the transaction that must roll back
            assert a.append(conn, other_leaves(5, 1)) == [5]  # a remembers leaf 5 ...
            raise RuntimeError  # ... which rolls back
        with engine.begin() as conn:
            assert b.append(conn, [(6000, 2, *entry(6000))]) == [5]  # another leaf 5
        with engine.begin() as conn:
            assert a.append(conn, [(6001, 2, *entry(6001))]) == [6]
        with engine.begin() as conn:
            assert a.append(conn, [(6002 + j, 2, *entry(6002 + j)) for j in range(3)]) == [7, 8, 9]
        ref = reference(engine, a)
        assert all_proofs(engine, a, 10) == all_proofs(engine, b, 10) == expected_proofs(ref, 10)

    def test_append_outside_a_begun_transaction(self, engine: Engine) -> None:
        """The connection begins its transaction on the append's first statement, as SQLAlchemy does."""
        store = make_store(engine)
        append_batches(engine, store, [3])
        with engine.connect() as conn:
            assert not conn.in_transaction()
            assert store.append(conn, [(7000, 3, *entry(7000))]) == [3]
            assert conn.in_transaction()
            conn.commit()
        with engine.connect() as conn:
            assert store.size(conn) == 4
        ref = reference(engine, store)
        assert all_proofs(engine, store, 4) == expected_proofs(ref, 4)

    @pytest.mark.parametrize("warm", [False, True])
    def test_driver_errors_are_wrapped(self, engine: Engine, *, warm: bool) -> None:
        store = make_store(engine)
        append_batches(engine, store, [2])  # notification ids 100 and 103
        if not warm:
            store.clear_cache()  # no remembered frontier: the tail-read path
        plant_run(engine, store, 200)
        with pytest.raises(exc.IntegrityError), engine.begin() as conn:
            store.append(conn, [(200, 1, *entry(7))])  # starts a run, whose row is already there
        with engine.connect() as conn:
            assert store.size(conn) == 2

    def test_a_notification_id_that_does_not_rise_is_refused(self, engine: Engine) -> None:
        store = make_store(engine)
        append_batches(engine, store, [2])  # notification ids 100 and 103
        for leaves in ([(103, 1, *entry(7))], [(100, 1, *entry(7))], [(104, 1, *entry(7)), (104, 1, *entry(8))]):
            with pytest.raises(UsageError, match="is not above the previous leaf's"), engine.begin() as conn:
                store.append(conn, leaves)
        with engine.connect() as conn:
            assert store.size(conn) == 2

    def test_a_lost_connection_is_invalidated(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        store = make_store(engine)
        append_batches(engine, store, [2])
        plant_run(engine, store, 200)
        with engine.connect() as conn:
            conn.begin()
            monkeypatch.setattr(conn.dialect, "is_disconnect", lambda *_: True)
            with pytest.raises(exc.DBAPIError) as err:
                store.append(conn, [(200, 1, *entry(7))])  # a driver error, taken for a lost connection
            assert err.value.connection_invalidated
            assert conn.invalidated
            monkeypatch.undo()
            conn.rollback()
        with engine.connect() as conn:
            assert store.size(conn) == 2
