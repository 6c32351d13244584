"""Versioned reference lists: inspection item lists, annual plans, discretion
benchmarks, yearly frequency caps and officer rosters (R4, R10, R12, R42, R55).

One aggregate per list (keyed by kind, owner and scope); each publication appends a
new numbered version with its content hash.  Lookups return the version *in force* at
an instant (the latest published at or before it), and every entry that relies on a
list records the version number and hash it used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import CopyOnWrite, check_time_not_before, content_hash, freeze, natural_id, require
from domain.calendar import to_micros
from domain.errors import RuleViolation, UsageError

ITEM_LIST = "item_list"
ANNUAL_PLAN = "annual_plan"
DISCRETION_BENCHMARK = "discretion_benchmark"
FREQUENCY_CAPS = "frequency_caps"
OFFICER_ROSTER = "officer_roster"  # R55: the published roster of enforcement officers
#: R25 (issue 18): the audio-video coverage tolerance of an agency (owner: the agency) or of a
#: province (owner ``national``, scope ``province:<2-digit code>``): one entry ``{max_gap_seconds}``.
AV_POLICY = "av_policy"
MAX_AV_GAP_SECONDS = 3600
KINDS = frozenset({ITEM_LIST, ANNUAL_PLAN, DISCRETION_BENCHMARK, FREQUENCY_CAPS, OFFICER_ROSTER, AV_POLICY})

#: Required keys (and their types) of the entries of each kind of list.
_ENTRY_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    ITEM_LIST: {"code": str, "name": str, "category": str},
    ANNUAL_PLAN: {"item_code": str},
    DISCRETION_BENCHMARK: {"code": str, "min_fen": int, "max_fen": int},
    FREQUENCY_CAPS: {"sector": str, "risk_class": str, "cap": int},
    OFFICER_ROSTER: {"cert_no": str, "name": str},
    AV_POLICY: {"max_gap_seconds": int},
}
#: Optional boolean flags on item-list entries.
ITEM_FLAGS = ("offsite_capable", "double_random", "no_penalty_listed")


@dataclass(frozen=True, slots=True)
class ListVersion:
    """One published version of a reference list."""

    kind: str
    owner: str
    scope: str
    version: int
    content_hash: str
    published_at: int
    entries: tuple[dict[str, Any], ...]

    def ref(self) -> dict[str, Any]:
        """What an entry records about the list it used."""
        return {"kind": self.kind, "version": self.version, "content_hash": self.content_hash}

    # -- item lists (R4) --
    def item(self, code: str) -> dict[str, Any] | None:
        return next((e for e in self.entries if e.get("code") == code), None)

    def require_items(self, codes: Iterable[str]) -> tuple[dict[str, Any], ...]:
        """R4: every code is in this published item list, else ``E_ITEM_NOT_PUBLISHED``."""
        found = []
        for code in codes:
            item = self.item(code)
            if item is None:
                raise RuleViolation(
                    "E_ITEM_NOT_PUBLISHED",
                    f"item {code!r} is not in published {self.kind} v{self.version}"
                    f" of {self.owner}",
                    item_code=code,
                )
            found.append(item)
        return tuple(found)

    # -- plans (R10) --
    def plan_covers(self, codes: Iterable[str]) -> bool:
        planned = {e["item_code"] for e in self.entries}
        return set(codes) <= planned

    # -- caps (R12) --
    def cap_for(self, sector: str, risk_class: str) -> int | None:
        exact = wildcard = None
        for e in self.entries:
            if e["risk_class"] != risk_class:
                continue
            if e["sector"] == sector:
                exact = e["cap"]
            elif e["sector"] == "*":
                wildcard = e["cap"]
        return exact if exact is not None else wildcard

    # -- officer roster (R55) --
    def lists_officer(self, cert_no: str) -> bool:
        return any(e.get("cert_no") == cert_no for e in self.entries)

    # -- benchmarks (R42) --
    def benchmark(self, code: str) -> dict[str, Any] | None:
        return next((e for e in self.entries if e.get("code") == code), None)


def _check_entries(kind: str, entries: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    schema = _ENTRY_SCHEMA[kind]
    out: list[dict[str, Any]] = []
    keys: set[Any] = set()
    for raw in entries:
        if not isinstance(raw, Mapping):
            raise UsageError(f"{kind} entries must be mappings, got {raw!r}")
        entry = dict(raw)
        for key, typ in schema.items():
            if not isinstance(entry.get(key), typ) or isinstance(entry.get(key), bool) != (
                typ is bool
            ):
                raise UsageError(f"{kind} entry {entry!r}: {key!r} must be {typ}")
        for key, value in entry.items():
            if isinstance(value, float):
                raise UsageError(f"{kind} entry {entry!r}: no floats (money is integer fen)")
            if key in ITEM_FLAGS and not isinstance(value, bool):
                raise UsageError(f"{kind} entry {entry!r}: {key!r} must be bool")
        if kind == DISCRETION_BENCHMARK and entry["min_fen"] > entry["max_fen"]:
            raise UsageError(f"benchmark {entry['code']!r}: min_fen > max_fen")
        if kind == FREQUENCY_CAPS and entry["cap"] < 0:
            raise UsageError("a cap cannot be negative")
        if kind == AV_POLICY and (set(entry) != {"max_gap_seconds"}
                                  or not 0 <= entry["max_gap_seconds"] <= MAX_AV_GAP_SECONDS):
            raise UsageError(f"an av_policy entry is {{max_gap_seconds: 0..{MAX_AV_GAP_SECONDS}}}, not {entry!r}")
        if kind == AV_POLICY and out:
            raise UsageError("an av_policy list has exactly one entry")
        ident = (entry.get("code"), entry.get("item_code"), entry.get("sector"), entry.get("risk_class"),
                 entry.get("cert_no"))
        if ident in keys:
            raise UsageError(f"duplicate {kind} entry {entry!r}")
        keys.add(ident)
        out.append(entry)
    return tuple(out)


class ReferenceList(CopyOnWrite, Aggregate):
    """A versioned, published reference list."""

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        kind: str
        owner: str
        scope: str
        versions: tuple[ListVersion, ...]

    class Opened(Event, Aggregate.Created):
        TYPE: ClassVar[str] = "reference.list_opened.v1"
        kind: str
        owner: str
        scope: str

        def apply(self, agg: ReferenceList) -> None:
            agg.kind = self.kind
            agg.owner = self.owner
            agg.scope = self.scope
            agg.versions = ()

    class VersionPublished(Event):
        TYPE: ClassVar[str] = "reference.version_published.v1"
        version: int
        content_hash: str
        entries: tuple[dict[str, Any], ...]

        def apply(self, agg: ReferenceList) -> None:
            agg.versions = (
                *agg.versions,
                ListVersion(
                    kind=agg.kind,
                    owner=agg.owner,
                    scope=agg.scope,
                    version=self.version,
                    content_hash=self.content_hash,
                    published_at=to_micros(self.timestamp),
                    entries=tuple(dict(e) for e in freeze(self.entries)),
                ),
            )

    @staticmethod
    def id_for(kind: str, owner: str, scope: str = "") -> UUID:
        return natural_id("reference", kind, owner, scope)

    @classmethod
    def open(cls, *, kind: str, owner: str, scope: str = "", at: datetime, actor: str) -> ReferenceList:
        if kind not in KINDS:
            raise UsageError(f"unknown reference list kind {kind!r}")
        check_time_not_before(at, None)
        return cls._create(
            cls.Opened,
            id=cls.id_for(kind, owner, scope),
            timestamp=at,
            actor=actor,
            kind=kind,
            owner=owner,
            scope=scope,
        )

    def publish(self, *, entries: Iterable[Mapping[str, Any]], at: datetime, actor: str) -> ListVersion:
        checked = _check_entries(self.kind, entries)
        require(bool(checked), "E_OUT_OF_ORDER", "cannot publish an empty list")
        check_time_not_before(at, self.modified_on)
        body = {"kind": self.kind, "owner": self.owner, "scope": self.scope, "entries": checked}
        self.trigger_event(
            self.VersionPublished,
            timestamp=at,
            actor=actor,
            version=len(self.versions) + 1,
            content_hash=content_hash(body),
            entries=checked,
        )
        return self.versions[-1]

    def version_in_force(self, at: datetime) -> ListVersion | None:
        """The latest version published at or before ``at`` (None if none was)."""
        us = to_micros(at)
        current = None
        for v in self.versions:
            if v.published_at <= us:
                current = v
        return current

    def get_version(self, number: int) -> ListVersion | None:
        return next((v for v in self.versions if v.version == number), None)
