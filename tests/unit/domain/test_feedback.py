"""R20/R21: the enterprise's feedback is a signed entry of the inspection, once, with its token."""

from __future__ import annotations

import hashlib

import pytest

from tests.unit.domain.enforcement_world import SECRET, T, World, assert_refused

INTAKE = "feedback-intake"


@pytest.fixture
def notified(world: World) -> tuple[object, str]:
    insp = world.given("concluded")
    token = insp.notify_result(recipient="manager", summary_hash="a" * 64, secret=SECRET,
                               at=T("2025-09-02 12:00"), actor="p1")
    return insp, token


def test_feedback_with_the_token_is_recorded_with_the_comment_hash_only(notified: tuple[object, str]) -> None:
    insp, token = notified
    qr_id = insp.receive_feedback(token=f" {token} ", rating=2, prohibition_code="2",  # type: ignore[attr-defined]
                                  comment=" 要求法定代表人到场 ", at=T("2025-09-03 09:00"), actor=INTAKE)
    event = insp.pending_events[-1]  # type: ignore[attr-defined]
    assert event.TYPE == "inspection.feedback_received.v1"
    assert qr_id == event.qr_id == hashlib.sha256(token.encode()).hexdigest()[:32]
    assert (event.rating, event.prohibition_code) == (2, "2")
    assert event.comment_sha256 == hashlib.sha256("要求法定代表人到场".encode()).hexdigest()
    assert "要求" not in repr(event)
    assert token not in repr(event)
    assert insp.feedback == {"qr_id": qr_id, "rating": 2, "prohibition_code": "2"}  # type: ignore[attr-defined]


def test_an_empty_comment_has_no_hash(notified: tuple[object, str]) -> None:
    insp, token = notified
    insp.receive_feedback(token=token, rating=5, prohibition_code=None, comment="  ",  # type: ignore[attr-defined]
                          at=T("2025-09-03 09:00"), actor=INTAKE)
    assert insp.pending_events[-1].comment_sha256 is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(("code", "kwargs"), [
    ("E_FEEDBACK_TOKEN", {"token": "not-the-token"}),
    ("E_FEEDBACK_TOKEN", {"token": "   "}),
    ("E_FEEDBACK_RATING", {"rating": 0}),
    ("E_FEEDBACK_RATING", {"rating": 6}),
    ("E_FEEDBACK_RATING", {"rating": True}),
    ("E_FEEDBACK_CODE", {"prohibition_code": "9"}),
    ("E_FEEDBACK_COMMENT", {"comment": "x" * 1001}),
    ("E_OUT_OF_ORDER", {"at": T("2025-09-01 09:00")}),
])
def test_bad_feedback_is_refused_and_writes_nothing(notified: tuple[object, str], code: str,
                                                     kwargs: dict[str, object]) -> None:
    insp, token = notified
    args = {"token": token, "rating": 4, "prohibition_code": None, "comment": "", "at": T("2025-09-03 09:00"),
            "actor": INTAKE, **kwargs}
    assert_refused(code, lambda: insp.receive_feedback(**args), insp)  # type: ignore[attr-defined]


def test_feedback_is_given_once(notified: tuple[object, str]) -> None:
    insp, token = notified
    insp.receive_feedback(token=token, rating=4, prohibition_code=None, comment="",  # type: ignore[attr-defined]
                          at=T("2025-09-03 09:00"), actor=INTAKE)
    assert_refused("E_FEEDBACK_EXISTS", lambda: insp.receive_feedback(  # type: ignore[attr-defined]
        token=token, rating=1, prohibition_code="1", comment="", at=T("2025-09-03 10:00"), actor=INTAKE), insp)


def test_no_feedback_before_the_result_notice(world: World) -> None:
    insp = world.given("concluded")
    assert_refused("E_NO_FEEDBACK_INVITATION", lambda: insp.receive_feedback(
        token="t", rating=4, prohibition_code=None, comment="", at=T("2025-09-03 09:00"), actor=INTAKE), insp)
