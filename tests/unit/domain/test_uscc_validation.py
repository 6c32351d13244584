"""R1/R2: 统一社会信用代码 per GB 32100 (rulebook §3)."""

from __future__ import annotations

import pytest
from enforcement_world import T, assert_refused
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import UsccInvalid
from domain.registers import Enterprise
from domain.uscc import CHARSET, is_valid_uscc, make_uscc, uscc_check_char, validate_uscc


def test_the_standards_worked_example_computes_check_character_3() -> None:
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert validate_uscc("91350100M000100Y43") == "91350100M000100Y43"


@pytest.mark.parametrize("code", ["91230500MA1B3N1N2M", "912101001234502120"])
def test_rulebook_valid_codes_are_accepted(code: str) -> None:
    assert is_valid_uscc(code)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91350100M000100Y4Z", "charset"),  # Z is not in the set
        ("91310115MA1H8R7C6D", "check_digit"),  # the blog's invalid "example"
        ("91350100M000100Y44", "check_digit"),
        ("91350100m000100Y43", "lowercase"),
        ("９1350100M000100Y43", "fullwidth"),  # noqa: RUF001 - fullwidth input is the case under test
        ("91350100Ｍ000100Y43", "fullwidth"),  # noqa: RUF001 - fullwidth input is the case under test
        ("91350100M000100Y4", "length"),
        ("91350100M000100Y433", "length"),
        (" 91350100M000100Y43", "whitespace"),
        ("91350100M000100Y4\u3000", "whitespace"),
        ("91350100I000100Y43", "charset"),
        ("91350100O000100Y43", "charset"),
        ("9135010-M000100Y43", "charset"),
        ("", "length"),
    ],
)
def test_malformed_or_invalid_uscc_is_refused_with_its_reason(code: str, reason: str) -> None:
    with pytest.raises(UsccInvalid) as info:
        validate_uscc(code)
    assert info.value.code == "E_USCC_INVALID"
    assert info.value.reason == reason


def test_a_non_string_uscc_is_refused() -> None:
    with pytest.raises(UsccInvalid):
        validate_uscc(91350100)


def test_registering_an_enterprise_with_a_bad_check_digit_writes_nothing() -> None:
    assert_refused(
        "E_USCC_INVALID",
        lambda: Enterprise.register(uscc="91350100M000100Y44", name="x", sector="food", admin_division="350102",
                                    risk_class="B", positive_list=False, at=T("2025-01-02 09:00"), actor="r"),
    )


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=CHARSET, min_size=17, max_size=17))
def test_every_completed_prefix_is_valid_and_every_other_last_char_is_not(prefix: str) -> None:
    code = make_uscc(prefix)
    assert is_valid_uscc(code)
    for c in CHARSET:
        if c != code[17]:
            assert not is_valid_uscc(prefix + c)
