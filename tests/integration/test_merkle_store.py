"""MerkleStore on a SQLite file and on PostgreSQL: proofs verify and equal the pure reference."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, create_engine

from ledger import merkle
from ledger.errors import EncodingError, UsageError
from ledger.merkle_store import MerkleStore


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> MerkleStore:
    md = MetaData()
    s = MerkleStore(md)
    md.create_all(engine)
    return s


def entry(i: int) -> tuple[bytes, bytes]:
    return hashlib.sha256(b"entry %d" % i).digest(), hashlib.sha512(b"sig %d" % i).digest()


def append_batches(engine: Engine, store: MerkleStore, sizes: list[int], *, nid_gap: int = 3) -> list[bytes]:
    """Append batches as the ledger commits them; return the reference leaf hashes."""
    ref: list[bytes] = []
    n = 0
    for b in sizes:
        leaves = []
        for _ in range(b):
            eh, sig = entry(n)
            leaves.append((100 + n * nid_gap, 1_700_000_000_000_000 + n, eh, sig))
            n += 1
        with engine.begin() as conn:
            idxs = store.append(conn, leaves)
        assert idxs == list(range(len(ref), len(ref) + b))
        for (_nid, ra, eh, sig), i in zip(leaves, idxs, strict=True):
            ref.append(merkle.leaf_hash(merkle.leaf_data(eh, sig, ra, i)))
    return ref


class TestMerkleStoreConformance:
    def test_empty_store(self, engine: Engine, store: MerkleStore) -> None:
        with engine.connect() as conn:
            assert store.size(conn) == 0
            assert store.root(conn) == merkle.EMPTY_ROOT
            assert store.root(conn, 0) == merkle.EMPTY_ROOT
            assert store.latest_checkpoint(conn) is None
            assert list(store.iter_leaves(conn)) == []
        with engine.begin() as conn:
            assert store.append(conn, []) == []

    def test_proofs_from_store_verify_and_equal_reference(self, engine: Engine, store: MerkleStore) -> None:
        ref = append_batches(engine, store, [1, 1, 3, 1, 8, 2, 1, 16, 5, 1])
        n = len(ref)
        fetch = merkle.memory_fetcher(ref)
        with engine.connect() as conn:
            assert store.size(conn) == n
            assert store.root(conn) == merkle.root_of(ref)
            for size in range(1, n + 1):
                root = merkle.root_of(ref[:size])
                assert store.root(conn, size) == root
                for i in range(size):
                    p = store.inclusion_proof(conn, i, size)
                    assert p == merkle.inclusion_proof(i, size, fetch)
                    merkle.verify_inclusion(i, size, ref[i], p, root)
                for s1 in range(1, size + 1):
                    c = store.consistency_proof(conn, s1, size)
                    assert c == merkle.consistency_proof(s1, size, fetch)
                    merkle.verify_consistency(s1, size, c, merkle.root_of(ref[:s1]), root)

    def test_leaves_keep_notification_ids_and_iterate_in_order(self, engine: Engine, store: MerkleStore) -> None:
        ref = append_batches(engine, store, [4, 7, 2])
        with engine.connect() as conn:
            leaves = list(store.iter_leaves(conn, batch=3))
            assert [x.idx for x in leaves] == list(range(13))
            assert [x.leaf_hash for x in leaves] == ref
            assert [x.notification_id for x in leaves] == [100 + 3 * i for i in range(13)]
            assert [x.idx for x in store.iter_leaves(conn, start=11, batch=1)] == [11, 12]
            leaf = store.leaf(conn, 5)
            assert leaf is not None
            assert leaf.entry_hash == entry(5)[0]
            assert leaf.recorded_at == 1_700_000_000_000_005
            assert store.leaf(conn, 13) is None
            by_nid = store.leaf_for_notification(conn, 100 + 3 * 5)
            assert by_nid == leaf

    def test_leaves_are_found_by_notification_id_across_runs(self, engine: Engine, store: MerkleStore) -> None:
        # ids 10-14, then a skip to 20-22, then 23 in its own transaction, then 30: three runs
        nids = [10, 11, 12, 13, 14, 20, 21, 22, 23, 30]
        for batch in (nids[:5], nids[5:8], nids[8:9], nids[9:]):
            with engine.begin() as conn:
                store.append(conn, [(n, 5, *entry(n)) for n in batch])
        from sqlalchemy import select

        with engine.connect() as conn:
            runs = conn.execute(select(store.runs.c.notification_id, store.runs.c.idx)
                                .order_by(store.runs.c.notification_id)).all()
            assert [tuple(r) for r in runs] == [(10, 0), (20, 5), (30, 9)]
            for i, n in enumerate(nids):
                leaf = store.leaf_for_notification(conn, n)
                assert leaf is not None
                assert (leaf.idx, leaf.notification_id, leaf.entry_hash) == (i, n, entry(n)[0])
            for absent in (9, 15, 19, 24, 29, 31):
                assert store.leaf_for_notification(conn, absent) is None
            sizes = {n: store.size_at_notification(conn, n) for n in (0, 9, 10, 14, 15, 19, 20, 23, 29, 30, 99)}
            assert sizes == {0: 0, 9: 0, 10: 1, 14: 5, 15: 5, 19: 5, 20: 6, 23: 9, 29: 9, 30: 10, 99: 10}

    def test_rolled_back_append_leaves_no_trace(self, engine: Engine, store: MerkleStore) -> None:
        ref = append_batches(engine, store, [3])
        with pytest.raises(RuntimeError), engine.begin() as conn:  # noqa: PT012 - the block is the transaction that must roll back
            store.append(conn, [(999, 1, *entry(99))])
            raise RuntimeError
        with engine.connect() as conn:
            assert store.size(conn) == 3
            assert store.root(conn) == merkle.root_of(ref)
        with engine.begin() as conn:  # the index continues from 3, with no gap
            assert store.append(conn, [(1000, 2, *entry(100))]) == [3]

    def test_bad_leaf_is_refused_and_nothing_written(self, engine: Engine, store: MerkleStore) -> None:
        with pytest.raises(EncodingError), engine.begin() as conn:
            store.append(conn, [(1, 1, b"short", bytes(64))])
        with engine.connect() as conn:
            assert store.size(conn) == 0

    def test_proof_beyond_the_log_is_a_usage_error(self, engine: Engine, store: MerkleStore) -> None:
        append_batches(engine, store, [5])
        with engine.connect() as conn:
            with pytest.raises(UsageError):
                store.inclusion_proof(conn, 0, 6)
            with pytest.raises(UsageError):
                store.consistency_proof(conn, 2, 8)
            with pytest.raises(UsageError):
                store.inclusion_proof(conn, 5, 5)
            with pytest.raises(UsageError):
                store.root(conn, 6)

    def test_checkpoints_are_stored_and_found(self, engine: Engine, store: MerkleStore) -> None:
        with engine.begin() as conn:
            a = store.add_checkpoint(conn, "note a", 3, b"\x01" * 32, 10)
            b = store.add_checkpoint(conn, "note b", 7, b"\x02" * 32, 20)
            c = store.add_checkpoint(conn, "note c", 3, b"\x03" * 32, 30)
        assert a < b < c
        with engine.connect() as conn:
            latest = store.latest_checkpoint(conn)
            assert latest is not None
            assert (latest.note, latest.size, latest.created_at) == ("note c", 3, 30)
            at7 = store.checkpoint_at(conn, 7)
            assert at7 is not None
            assert at7.root == b"\x02" * 32
            at3 = store.checkpoint_at(conn, 3)
            assert at3 is not None
            assert at3.id == c
            assert store.checkpoint_at(conn, 4) is None

    def test_one_row_per_leaf_and_per_complete_inner_node(self, engine: Engine, store: MerkleStore) -> None:
        append_batches(engine, store, [1] * 37 + [100])
        from sqlalchemy import func, select

        nd = store.nodes
        with engine.connect() as conn:
            leaves = conn.execute(select(func.count()).where(nd.c.notification_id.is_not(None))).scalar_one()
            inner = conn.execute(select(func.count()).where(nd.c.notification_id.is_(None))).scalar_one()
            odd = conn.execute(select(func.count()).where(nd.c.pos % 2 == 1)).scalar_one()
        assert leaves == 137
        assert inner == odd == 137 - (137).bit_count()


def test_a_database_in_the_old_merkle_layout_is_refused(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from tests.fakes import make_ledger

    url = f"sqlite:///{tmp_path / 'old.db'}"
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE merkle_leaves (idx INTEGER PRIMARY KEY, notification_id BIGINT UNIQUE)")
    with pytest.raises(UsageError, match="old layout"):
        make_ledger(url)
    assert not inspect(eng).has_table("merkle_runs")  # nothing of the new layout was created
    eng.dispose()
