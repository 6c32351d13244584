"""The text policy of new entries, and the escape of text in projection rows (docs/spec/02-events.md §Text).

Every string a new entry carries (``actor``, body values and body map keys, at any depth) is
checked here, on the one write path every command takes (``LedgerApplication._entries``: HTTP,
CLI and Python callers alike), before anything is signed or written; natural keys and content
hashes (``domain.base``) check their strings too, so a bad key fails before any lookup. A string
is refused with :class:`~domain.errors.TextInvalid` (``E_TEXT_INVALID``) when it holds

* a C0 or C1 control character or DEL (Unicode category ``Cc``), except tab and line feed in a
  free-text field (:data:`FREE_TEXT_FIELDS`: notes, reasons, summaries, places);
* a lone surrogate (``Cs``): such a string is not Unicode text and has no UTF-8 form;
* in an identifier (every field that is not free text, the actor and every map key): any format
  character (``Cf``), which covers the bidi embeddings, overrides, isolates and marks
  (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) that make an identifier display as
  another, and the zero-width characters.

Entries committed before this check (or written below it) can still hold such characters; they
verify, and the projections must show them. :func:`escape_for_projection` is applied to every
string a projection reads (``projections.source.decode_item``): C0 controls other than tab and
line feed, and DEL, become their Unicode Control Pictures, so U+0000 (which a PostgreSQL ``text``
or ``jsonb`` value cannot hold) is stored as U+2400 ``␀`` (docs/projections.md §Escaped text).
The entry itself is never changed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from domain.errors import TextInvalid

#: Body fields whose value is prose written by a person: tab and line feed are allowed there.
FREE_TEXT_FIELDS = frozenset({
    "basis", "comment", "conclusion", "description", "flag_reason", "justification",
    "legal_basis", "legal_qualification", "legal_rep_basis", "location", "message", "necessity_reason",
    "nonpublic_reason", "note", "notes", "place", "purpose", "reason", "reason_text", "refusal_note",
    "statement", "summary", "text", "title",
})
_FREE_TEXT_ALLOWED = frozenset("\t\n")

# Control characters (C0, DEL, C1) and lone surrogates: one C-speed scan decides the common case.
_SUSPECT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "") or unicodedata.category(ch)
    return f"U+{ord(ch):04X} ({name})"


def _bad_char(s: str, *, free_text: bool) -> str | None:
    """The first character of ``s`` this policy refuses, or None."""
    if (free_text or s.isascii()) and _SUSPECT.search(s) is None:
        return None  # ASCII has no format characters; free text may hold them
    for ch in s:
        cat = unicodedata.category(ch)
        if cat == "Cs" or (cat == "Cc" and not (free_text and ch in _FREE_TEXT_ALLOWED)):
            return ch
        if cat == "Cf" and not free_text:
            return ch
    return None


def check_text(value: str, *, field: str, free_text: bool = False) -> None:
    """Refuse ``value`` with ``TextInvalid`` if it breaks the policy above."""
    ch = _bad_char(value, free_text=free_text)
    if ch is not None:
        kind = "free-text field" if free_text else "identifier"
        msg = f"{field}: {kind} holds {_describe(ch)}, which the ledger does not accept"
        raise TextInvalid(msg, field=field, character=f"U+{ord(ch):04X}")


def check_value(value: Any, *, field: str) -> None:
    """Check every string inside ``value`` (a body field), naming the innermost map key in errors."""
    if isinstance(value, str):
        check_text(value, field=field, free_text=field.rsplit(".", 1)[-1] in FREE_TEXT_FIELDS)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str):
                check_text(k, field=f"{field}.{k}" if field else k)
            check_value(v, field=f"{field}.{k}" if field else str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_value(v, field=field)


def check_entry_text(actor: str, body: Mapping[str, Any]) -> None:
    """Step 2.1 (text): the actor and every string of the body follow the text policy."""
    check_text(actor, field="actor")
    check_value(body, field="")


# ----------------------------------------------------------------------------- projection escape
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SEARCH = _CONTROL.search


def _picture(m: re.Match[str]) -> str:
    c = ord(m.group())
    return "\u2421" if c == 0x7F else chr(0x2400 + c)  # noqa: PLR2004 - DEL's picture is U+2421


def escape_text(s: str) -> str:
    """``s`` with C0 controls other than tab and line feed, and DEL, as their Control Pictures."""
    return _CONTROL.sub(_picture, s)


def _needs_escape(v: Any) -> bool:
    """True if a string inside ``v`` (map keys included) holds a character :func:`escape_text` changes.

    Allocation-free; ``str.isprintable`` (C speed) clears nearly every string before the regex runs."""
    t = type(v)
    if t is str:
        return not v.isprintable() and _SEARCH(v) is not None
    if t is dict:
        for k, x in v.items():
            if type(k) is str and not k.isprintable() and _SEARCH(k) is not None:
                return True
            tx = type(x)
            if tx is str:
                if not x.isprintable() and _SEARCH(x) is not None:
                    return True
            elif (tx is dict or tx is list or tx is tuple) and _needs_escape(x):
                return True
        return False
    if t is list or t is tuple:
        return any(_needs_escape(x) for x in v)
    return False


def _escape(v: Any) -> Any:
    t = type(v)
    if t is str:
        return escape_text(v)
    if t is dict:
        return {_escape(k): _escape(x) for k, x in v.items()}
    if t is list:
        return [_escape(x) for x in v]
    if t is tuple:
        return tuple(_escape(x) for x in v)
    return v


def escape_for_projection(value: Any) -> Any:
    """``value`` with every string (map keys included) passed through :func:`escape_text`.

    Returns ``value`` itself when nothing needs escaping (the common case: one scan per string,
    no allocation)."""
    return _escape(value) if _needs_escape(value) else value


__all__ = ["FREE_TEXT_FIELDS", "check_entry_text", "check_text", "check_value", "escape_for_projection",
           "escape_text"]
