"""The one visibility policy for every read path: who may see which entries and case-file fields.

Every read path applies this table and nothing else: the case file (``GET /v1/cases/{id}``) and
its history, the signed entries (``/entries``), the court bundle (``/bundle``), the audit trail
and the public verification page (``/v/{id}``). ``docs/api.md`` §Visibility repeats the table
with the legal reason for each hidden item; ``tests/e2e/test_visibility_matrix.py`` checks the
whole matrix.

Three audiences read a case:

- ``STAFF``: staff of an agency on the case, and an auditor without an agency scope. They see
  everything (they are the ledger's keepers and supervisors).
- ``ENTERPRISE``: the party the case is about. It sees its case except the agency's internal
  deliberation (legal reviews, collective discussions) and internal warnings (``W_*`` flags).
- ``PUBLIC``: anyone, on the verification page reached from the QR code. It sees the public
  facts, and for each entry only its number, type, times and verification status; withheld
  entry types show as withheld.

Two granularities, because an entry's signature covers all of it:

- **Signed entries** (``/entries``, the bundle, the verification page) are all or nothing. An
  entry the audience may not see (its type is withheld, or its body carries a withheld flag) is
  replaced by its **hash and position** (``n``, entry hash, signature, leaf index,
  ``recorded_at``), so the chain link of the next entry and the inclusion proof of its leaf
  still verify. Never a partial entry: a partial entry would not verify, and would look as if
  it did.
- **Projections** (the case file) are redacted field by field: withheld case-file fields are
  removed, timeline rows of withheld entry types become the same hash-and-position stubs, and
  withheld flags are removed from every list that carries flags.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Audience(StrEnum):
    """Who reads (see the module docstring)."""

    STAFF = "staff"
    ENTERPRISE = "enterprise"
    PUBLIC = "public"


@dataclass(frozen=True, slots=True)
class Withheld:
    """One row of the policy: an item withheld from some audiences, and the legal reason."""

    kind: str  #: ``entry_type`` | ``flag_prefix`` | ``case_field``
    item: str
    audiences: frozenset[Audience]
    reason: str


_NOT_STAFF = frozenset({Audience.ENTERPRISE, Audience.PUBLIC})

_REVIEW_REASON = (
    "法制审核意见 is the agency's internal check before a decision (APL art. 58; GB118): process "
    "information (过程性信息), which OGI art. 16(2) lets the agency withhold. The party learns the "
    "decision, its facts, reasons and basis (APL art. 44), not the internal deliberation."
)
_DISCUSSION_REASON = (
    "集体讨论 minutes are the agency heads' internal deliberation (APL art. 57(2)): process "
    "information under OGI art. 16(2). The party receives the decision itself."
)
_WARNING_REASON = (
    "W_* flags are the ledger's internal supervision warnings (rulebook §0: surfaced by audit "
    "projections), e.g. W_FREQUENCY_AT_CAP or W_NO_PENALTY_LIST: internal management information "
    "(内部事务信息) under OGI art. 16(1). V_* violation flags, which record what happened to the "
    "party's procedure, stay visible."
)

POLICY: tuple[Withheld, ...] = (
    Withheld("entry_type", "inspection.legal_review_given.v1", _NOT_STAFF, _REVIEW_REASON),
    Withheld("entry_type", "inspection.collective_discussion_held.v1", _NOT_STAFF, _DISCUSSION_REASON),
    Withheld("flag_prefix", "W_", _NOT_STAFF, _WARNING_REASON),
    Withheld("case_field", "reviews", _NOT_STAFF, _REVIEW_REASON),
)
"""The whole policy. Anything not listed is visible to every audience that may read the case."""


def _items(kind: str, audience: Audience) -> frozenset[str]:
    return frozenset(w.item for w in POLICY if w.kind == kind and audience in w.audiences)


def withheld_types(audience: Audience) -> frozenset[str]:
    """Entry types withheld from ``audience``."""
    return _items("entry_type", audience)


def withheld_fields(audience: Audience) -> frozenset[str]:
    """Case-file fields removed for ``audience``."""
    return _items("case_field", audience)


def flag_visible(audience: Audience, flag: str) -> bool:
    """Whether ``audience`` may see this flag code."""
    return not any(flag.startswith(p) for p in _items("flag_prefix", audience))


def entry_visible(audience: Audience, entry_type: str, body: Mapping[str, Any] | None) -> bool:
    """Whether ``audience`` may see a whole signed entry (type and body; see the module docstring)."""
    if entry_type in withheld_types(audience):
        return False
    flags = (body or {}).get("flags") or ()
    return all(flag_visible(audience, str(f)) for f in flags)


def withheld_stub(n: int, entry_hash: str, sig: str | None, leaf_index: int | None,
                  recorded_at: int | None) -> dict[str, Any]:
    """What an audience gets instead of an entry it may not see: hash and position, no content."""
    return {"n": n, "withheld": True, "sha256": entry_hash, "sig": sig, "leaf_index": leaf_index,
            "recorded_at": recorded_at}


def case_file_for(audience: Audience, case_file: Mapping[str, Any]) -> dict[str, Any]:
    """The case file as ``audience`` may see it (a new dict; the argument is not changed)."""
    if audience is Audience.STAFF:
        return dict(case_file)
    hidden_types = withheld_types(audience)
    out = {k: copy.deepcopy(v) for k, v in case_file.items() if k not in withheld_fields(audience)}
    if isinstance(out.get("flags"), list):
        out["flags"] = [f for f in out["flags"] if flag_visible(audience, str(f.get("flag", "")))]
    if isinstance(out.get("flag_codes"), list):
        out["flag_codes"] = [f for f in out["flag_codes"] if flag_visible(audience, str(f))]
    timeline = []
    for row in out.get("timeline") or ():
        if row.get("type") in hidden_types:
            timeline.append({"n": row.get("n"), "position": row.get("position"), "withheld": True,
                             "sha256": row.get("entry_hash"), "leaf_index": row.get("leaf_index"),
                             "recorded_at": row.get("recorded_at")})
        else:
            timeline.append({**row, "flags": [f for f in row.get("flags") or () if flag_visible(audience, str(f))]})
    if "timeline" in out:
        out["timeline"] = timeline
    for key in ("evidence", "related"):
        for row in out.get(key) or ():
            if isinstance(row, dict) and "flags" in row:
                row["flags"] = [f for f in row["flags"] or () if flag_visible(audience, str(f))]
    return out


__all__ = ["POLICY", "Audience", "Withheld", "case_file_for", "entry_visible", "flag_visible", "withheld_fields",
           "withheld_stub", "withheld_types"]
