"""R14 双随机: a draw anyone can recompute from the committed pool and the public seed."""

from __future__ import annotations

import hashlib

import pytest
from enforcement_world import AGENCY, ENT, ENT2, T, World, assert_refused
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import RuleViolation
from domain.random_draw import (
    ALGORITHM,
    RandomDraw,
    canonical_pool,
    compute_pool_hash,
    compute_selection,
    verify_draw,
)
from domain.uscc import make_uscc

POOL = tuple(make_uscc(f"91350100MA{n:07d}") for n in range(20))
SEED = "上证综指 2025-08-29 收盘 3857.93"


def committed(pool: tuple[str, ...] = POOL, draw_no: str = "D-1") -> RandomDraw:
    draw = RandomDraw.commit_pool(agency_code=AGENCY, draw_no=draw_no, purpose="targets", pool=pool,
                                  seed_source="上证综指 2025-08-29 收盘点位", at=T("2025-08-29 09:00"),
                                  actor="dispatcher")
    draw.collect_events()
    return draw


def test_the_pool_hash_is_independent_of_the_order_the_pool_is_listed_in() -> None:
    assert compute_pool_hash(POOL) == compute_pool_hash(tuple(reversed(POOL)))
    assert compute_pool_hash(POOL) != compute_pool_hash(POOL[1:])


def test_the_pool_hash_is_plain_sha256_over_the_sorted_newline_joined_pool() -> None:
    body = b"caseledger.draw.pool.v1\n" + "\n".join(sorted(POOL)).encode()
    assert compute_pool_hash(POOL) == "sha256:" + hashlib.sha256(body).hexdigest()


def test_the_selection_is_sha256_counter_mode_ranking_recomputable_by_hand() -> None:
    members = sorted(POOL)
    ph = compute_pool_hash(POOL)
    key = hashlib.sha256(b"caseledger.draw.v1\x00" + ph.encode() + b"\x00" + SEED.encode()).digest()
    ranked = sorted((hashlib.sha256(key + i.to_bytes(8, "big")).digest(), m) for i, m in enumerate(members))
    assert compute_selection(POOL, SEED, 3) == tuple(m for _, m in ranked[:3])


def test_a_performed_draw_records_pool_hash_seed_and_selection_for_auditors() -> None:
    draw = committed()
    selected = draw.perform(pool_hash=compute_pool_hash(POOL), seed=SEED, count=3, at=T("2025-08-30 10:00"),
                            actor="dispatcher")
    (event,) = draw.collect_events()
    assert isinstance(event, RandomDraw.Performed)
    assert event.TYPE == "random_draw.performed.v1"
    assert event.selected == selected
    assert event.seed == SEED
    assert event.algorithm == ALGORITHM
    assert len(set(selected)) == 3
    assert set(selected) <= set(POOL)
    verified = draw.verify()
    assert verified.selected == selected


def test_a_draw_with_a_pool_hash_that_does_not_match_the_commitment_is_refused() -> None:
    draw = committed()
    other = compute_pool_hash(POOL[:-1])
    error = assert_refused("E_RANDOM_POOL_MISMATCH", lambda: draw.perform(
        pool_hash=other, seed=SEED, count=3, at=T("2025-08-30 10:00"), actor="dispatcher"), draw)
    assert error.details["expected"] == draw.pool_hash


def test_a_recomputation_with_another_pool_is_detected() -> None:
    draw = committed()
    draw.perform(pool_hash=draw.pool_hash, seed=SEED, count=3, at=T("2025-08-30 10:00"), actor="d")
    swapped = (*POOL[:-1], make_uscc("91350100MA9999999"))
    with pytest.raises(RuleViolation) as info:
        verify_draw(pool=swapped, seed=SEED, count=3, selected=draw.selected, pool_hash=draw.pool_hash)
    assert info.value.code == "E_RANDOM_POOL_MISMATCH"


def test_a_recomputation_with_another_seed_is_detected() -> None:
    draw = committed()
    draw.perform(pool_hash=draw.pool_hash, seed=SEED, count=3, at=T("2025-08-30 10:00"), actor="d")
    with pytest.raises(RuleViolation) as info:
        verify_draw(pool=POOL, seed=SEED + " ", count=3, selected=draw.selected, pool_hash=draw.pool_hash)
    assert info.value.code == "E_RANDOM_DRAW_MISMATCH"


def test_a_recorded_selection_that_was_tampered_with_is_detected() -> None:
    draw = committed()
    draw.perform(pool_hash=draw.pool_hash, seed=SEED, count=3, at=T("2025-08-30 10:00"), actor="d")
    outsider = next(m for m in POOL if m not in draw.selected)
    with pytest.raises(RuleViolation) as info:
        verify_draw(pool=POOL, seed=SEED, count=3, selected=(outsider, *draw.selected[1:]), pool_hash=draw.pool_hash)
    assert info.value.code == "E_RANDOM_DRAW_MISMATCH"


def test_the_seed_must_be_revealed_after_the_pool_was_committed() -> None:
    draw = committed()
    assert_refused("E_OUT_OF_ORDER", lambda: draw.perform(pool_hash=draw.pool_hash, seed=SEED, count=1,
                                                          at=T("2025-08-29 09:00"), actor="d"), draw)


def test_a_draw_cannot_be_performed_twice() -> None:
    draw = committed()
    draw.perform(pool_hash=draw.pool_hash, seed=SEED, count=1, at=T("2025-08-30 10:00"), actor="d")
    draw.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: draw.perform(pool_hash=draw.pool_hash, seed="other", count=1,
                                                          at=T("2025-08-30 11:00"), actor="d"), draw)


def test_drawing_more_than_the_pool_or_nothing_is_refused() -> None:
    draw = committed()
    for count in (0, len(POOL) + 1):
        assert_refused("E_RANDOM_POOL_INVALID", lambda c=count: draw.perform(
            pool_hash=draw.pool_hash, seed=SEED, count=c, at=T("2025-08-30 10:00"), actor="d"), draw)


def test_a_pool_with_duplicates_or_an_invalid_uscc_is_refused() -> None:
    assert_refused("E_RANDOM_POOL_INVALID", lambda: committed(pool=(ENT, ENT)))
    assert_refused("E_USCC_INVALID", lambda: committed(pool=(ENT, "91310115MA1H8R7C6D")))


def test_a_dispatch_of_an_enterprise_the_draw_did_not_select_is_refused(world: World) -> None:
    draw = world.draw(pool=(ENT, ENT2), count=1)
    assert draw.selected in {(ENT,), (ENT2,)}
    if draw.selected == (ENT,):  # pick a seed that selects the other one
        draw = world.draw(draw_no="D-2", pool=(ENT, ENT2), seed="other seed 7", count=1)
        assert draw.selected == (ENT2,)
    assert_refused("E_RANDOM_DRAW_MISSING", lambda: world.dispatch(
        assignments=[world.assignment(items=("I3",))], random_draw=draw))


def test_a_draw_committed_but_not_performed_cannot_support_a_dispatch(world: World) -> None:
    draw = committed(pool=(ENT,))
    assert_refused("E_RANDOM_DRAW_MISSING", lambda: world.dispatch(
        assignments=[world.assignment(items=("I3",))], random_draw=draw))


def test_inspectors_drawn_at_random_must_be_the_assigned_officers(world: World) -> None:
    target = world.draw(pool=(ENT,))
    inspectors = world.draw(draw_no="D-I", purpose="inspectors", pool=("C1", "C2", "C3"), count=2)
    team = tuple(sorted(inspectors.selected))
    res = world.dispatch(assignments=[world.assignment(items=("I1",), officers=team)],
                         random_draw=target, inspector_draw=inspectors, collect=False)
    assert res.inspection.pending_events[0].assignments[0]["inspector_draw"]["ref"] == f"{AGENCY}/D-I"
    outsider = next(c for c in ("C1", "C2", "C3") if c not in team)
    wrong_team = (team[0], outsider)
    assert_refused("E_RANDOM_DRAW_MISSING", lambda: world.dispatch(
        task_no="T-9", assignments=[world.assignment(items=("I1",), officers=wrong_team)],
        random_draw=target, inspector_draw=inspectors))


@settings(max_examples=40, deadline=None)
@given(pool=st.sets(st.text(alphabet="ABCDEFGH0123456789", min_size=1, max_size=6), min_size=1, max_size=12),
       seed=st.text(min_size=1, max_size=12), data=st.data())
def test_any_draw_verifies_and_any_other_seed_or_pool_is_caught_or_differs(pool: set[str], seed: str,
                                                                          data: st.DataObject) -> None:
    members = tuple(pool)
    count = data.draw(st.integers(1, len(members)))
    selected = compute_selection(members, seed, count)
    assert verify_draw(pool=members, seed=seed, count=count, selected=selected,
                       pool_hash=compute_pool_hash(members)).selected == selected
    assert compute_selection(tuple(reversed(members)), seed, count) == selected  # order of listing is irrelevant
    extra = (*members, "ZZZZZZZ")
    with pytest.raises(RuleViolation):
        verify_draw(pool=extra, seed=seed, count=count, selected=selected, pool_hash=compute_pool_hash(members))


# ---------------------------------------------------------------- pools committed by hash (issue 18 item 7)
def big_pool(n: int) -> tuple[str, ...]:
    return canonical_pool(make_uscc(f"91350100MA{i:07d}") for i in range(n))


def by_hash(pool: tuple[str, ...], draw_no: str = "D-H") -> RandomDraw:
    draw = RandomDraw.commit_pool_by_hash(agency_code=AGENCY, draw_no=draw_no, purpose="targets", pool=pool,
                                          seed_source="上证综指次日收盘", at=T("2025-08-29 09:00"), actor="d")
    draw.collect_events()
    return draw


def test_a_pool_committed_by_hash_records_its_blob_not_its_members_and_draws_the_same_selection() -> None:
    from domain.random_draw import pool_blob_bytes, pool_from_blob

    pool = big_pool(3000)  # more than fits in one entry
    blob = pool_blob_bytes(pool)
    draw = RandomDraw.commit_pool_by_hash(agency_code=AGENCY, draw_no="D-H", purpose="targets", pool=pool,
                                          seed_source="上证综指次日收盘", at=T("2025-08-29 09:00"), actor="d")
    (committed_event,) = draw.collect_events()
    assert type(committed_event).TYPE == "random_draw.pool_committed_by_hash.v1"
    assert committed_event.pool_blob == hashlib.sha256(blob).hexdigest()
    assert committed_event.pool_hash == compute_pool_hash(pool)
    assert committed_event.pool_size == 3000
    assert not hasattr(committed_event, "pool")
    assert pool_from_blob(blob) == pool
    selected = draw.perform(pool_hash=draw.pool_hash, seed="3857.93", count=5, at=T("2025-08-30 10:00"),
                            actor="d", pool=pool)
    assert selected == compute_selection(pool, "3857.93", 5)
    assert draw.verify(pool).selected == selected
    assert draw.record()["pool_blob"] == committed_event.pool_blob


def test_a_draw_committed_by_hash_without_its_pool_or_with_another_is_refused() -> None:
    pool = big_pool(50)
    draw = by_hash(pool)
    at = T("2025-08-30 10:00")
    assert_refused("E_RANDOM_POOL_MISMATCH", lambda: draw.perform(pool_hash=draw.pool_hash, seed="s", count=1,
                                                                  at=at, actor="d"), draw)
    assert_refused("E_RANDOM_POOL_MISMATCH", lambda: draw.perform(pool_hash=draw.pool_hash, seed="s", count=1,
                                                                  at=at, actor="d", pool=pool[1:]), draw)
    draw.perform(pool_hash=draw.pool_hash, seed="s", count=1, at=at, actor="d", pool=pool)
    with pytest.raises(RuleViolation) as info:
        draw.verify(pool[:-1])
    assert info.value.code == "E_RANDOM_POOL_MISMATCH"


def test_a_pool_blob_that_is_not_a_canonical_list_is_refused() -> None:
    from domain.random_draw import pool_from_blob

    pool = big_pool(3)
    for blob in ("\n".join(reversed(pool)).encode(), ("\n".join(pool) + "\n").encode(),
                 "\n".join((pool[0], pool[0])).encode(), b"\xff\xfe", b""):
        assert_refused("E_RANDOM_POOL_INVALID", lambda b=blob: by_hash(pool_from_blob(b)))
    assert_refused("E_RANDOM_POOL_INVALID", lambda: by_hash(tuple(reversed(pool))))
    assert_refused("E_USCC_INVALID", lambda: by_hash(canonical_pool(("C1", "C2"))))
