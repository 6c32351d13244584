"""The text policy of commands (domain/text.py, spec 02 §Text) and the projections' escape."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.base import content_hash, natural_id
from domain.errors import TextInvalid
from domain.text import check_entry_text, check_text, escape_for_projection, escape_text

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)


@given(ANY_TEXT, st.booleans())
def test_accepted_text_has_a_utf8_form_and_no_control_or_identifier_format_character(s: str, free: bool) -> None:
    try:
        check_text(s, field="f", free_text=free)
    except TextInvalid as e:
        assert e.code == "E_TEXT_INVALID"
        assert e.character.startswith("U+")
        return
    s.encode("utf-8")
    for ch in s:
        cat = unicodedata.category(ch)
        assert cat != "Cc" or (free and ch in "\t\n")
        assert cat != "Cf" or free


@pytest.mark.parametrize(("text", "free", "ok"), [
    ("普通话\u3000文本 (A-1)", False, True), ("a\tb\nc", True, True), ("a\rb", True, False), ("a\tb", False, False),
    ("\u202eevil", False, False), ("\u202bمخزن\u202c", True, True), ("\x00", True, False), ("\ud800", True, False),
    ("\U0010ffff", False, True), ("\u0085", True, False),
], ids=["cjk_identifier", "tab_newline_free", "carriage_return_free", "tab_identifier", "bidi_identifier",
        "bidi_free_text", "nul_free_text", "surrogate_free_text", "last_code_point", "c1_next_line"])
def test_the_text_policy_at_its_edges(text: str, free: bool, ok: bool) -> None:
    if ok:
        check_text(text, field="f", free_text=free)
    else:
        with pytest.raises(TextInvalid):
            check_text(text, field="f", free_text=free)


def test_map_keys_and_nested_values_are_checked_with_the_innermost_field_name() -> None:
    check_entry_text("p-lin", {"reason": "第一行\n第二行", "capture": {"note": "a\tb", "device": "DV-1"}})
    with pytest.raises(TextInvalid) as ei:
        check_entry_text("p-lin", {"capture": {"device": "DV\x00"}})
    assert ei.value.field == "capture.device"
    with pytest.raises(TextInvalid) as ei:
        check_entry_text("p-lin", {"capture": {"dev\u202eice": "x"}})
    assert ei.value.field == "capture.dev\u202eice"
    with pytest.raises(TextInvalid) as ei:
        check_entry_text("p-\u200blin", {})
    assert ei.value.field == "actor"


def test_natural_keys_and_content_hashes_refuse_what_has_no_utf8_form() -> None:
    with pytest.raises(TextInvalid):
        natural_id("inspection", "A0", "task-\x00")
    with pytest.raises(TextInvalid):
        content_hash({"draft": "\udfff"})


@given(st.recursive(ANY_TEXT.filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)) | st.integers(),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids, max_size=3),
                    max_leaves=8))
def test_the_projection_escape_leaves_no_control_but_tab_and_newline_and_keeps_clean_values_as_they_are(
        value: object) -> None:
    out = escape_for_projection(value)

    def strings(v: object) -> list[str]:
        if isinstance(v, str):
            return [v]
        if isinstance(v, dict):
            return [s for k, x in v.items() for s in (*strings(k), *strings(x))]
        if isinstance(v, list | tuple):
            return [s for x in v for s in strings(x)]
        return []

    for s in strings(out):
        assert all(c in "\t\n" or not ("\x00" <= c <= "\x1f" or c == "\x7f") for c in s)
    if all(escape_text(s) == s for s in strings(value)):
        assert out is value


def test_control_characters_become_their_control_pictures() -> None:
    assert escape_text("NUL-\x00-task\x1f\x7f\t\n") == "NUL-\u2400-task\u241f\u2421\t\n"
