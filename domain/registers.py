"""Registers as event-sourced aggregates: enforcement subjects, officers, enterprises,
and the enterprise-year frequency counter (R1–R5, R12, R16).

State that changes over time (certificate status, risk class, positive-list flag,
subject status, subject head) is kept as a *valid-time history*: every change carries
an ``effective_at`` instant (µs UTC), and lookups are "as of" an instant, so a rule is
always checked against the state on the event's ``occurred_at`` (bitemporal lookup,
R5), not the current state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import (
    CopyOnWrite,
    check_time_not_before,
    content_hash,
    freeze,
    natural_id,
    require,
    require_digest,
    require_text,
    str_tuple,
)
from domain.calendar import iso_day, legal_day, parse_day, to_micros
from domain.errors import CertificateInvalid, RuleViolation, UsageError
from domain.uscc import validate_uscc

# ---------------------------------------------------------------------------- helpers


def _as_of(history: Sequence[tuple[int, Any]], at_us: int) -> Any:
    """The value of the latest history entry effective at or before ``at_us``."""
    found: Any = None
    for effective_at, value in history:  # ordered by append; later entries win ties
        if effective_at <= at_us:
            found = value
    return found


def _insert(history: tuple[tuple[int, Any], ...], effective_at: int, value: Any) -> tuple[tuple[int, Any], ...]:
    """Append keeping the history sorted by effective time (stable for ties)."""
    items = [*history, (effective_at, value)]
    items.sort(key=lambda e: e[0])
    return tuple(items)


def _day(value: str, what: str) -> date:
    try:
        return parse_day(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be YYYY-MM-DD, got {value!r}") from None


# ---------------------------------------------------------------- enforcement subjects

#: Kinds of organisation that may inspect (R3).
QUALIFIED_SUBJECT_KINDS = frozenset(
    {"administrative_agency", "authorised_organisation", "entrusted_organisation"},
)
#: Kinds that may be registered (to be refused later) but never inspect (R3).
UNQUALIFIED_SUBJECT_KINDS = frozenset(
    {"coordination_body", "testing_institute", "research_institute", "intermediary"},
)
SUBJECT_STATUSES = frozenset({"active", "suspended", "dissolved"})


@dataclass(frozen=True, slots=True)
class SubjectState:
    """An enforcement subject as of an instant."""

    agency_code: str
    name: str
    kind: str
    status: str
    head: str | None
    jurisdiction: tuple[str, ...]
    entrustment: dict[str, Any] | None


class Agency(CopyOnWrite, Aggregate):
    """An enforcement subject (执法主体, R3) identified by its agency USCC (R2)."""

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        agency_code: str
        name: str
        kind: str
        jurisdiction: tuple[str, ...]
        entrustment: dict[str, Any] | None
        status_history: tuple[tuple[int, str], ...]
        head_history: tuple[tuple[int, str], ...]
        statistics_years: tuple[int, ...]

    class Registered(Event, Aggregate.Created):
        """The subject entered the signed register of confirmed subjects (主体清单)."""

        TYPE: ClassVar[str] = "agency.registered.v1"
        agency_code: str
        name: str
        kind: str
        jurisdiction: tuple[str, ...]
        entrustment: dict[str, Any] | None

        def apply(self, agg: Agency) -> None:
            agg.agency_code = self.agency_code
            agg.name = self.name
            agg.kind = self.kind
            agg.jurisdiction = freeze(self.jurisdiction)
            agg.entrustment = freeze(self.entrustment)
            agg.status_history = ((to_micros(self.timestamp), "active"),)
            agg.head_history = ()
            agg.statistics_years = ()

    class StatusChanged(Event):
        TYPE: ClassVar[str] = "agency.status_changed.v1"
        status: str
        effective_at: int
        reason: str

        def apply(self, agg: Agency) -> None:
            agg.status_history = _insert(agg.status_history, self.effective_at, self.status)

    class HeadAppointed(Event):
        """The subject's head (负责人), who approves dispatches (R9)."""

        TYPE: ClassVar[str] = "agency.head_appointed.v1"
        head: str
        effective_at: int

        def apply(self, agg: Agency) -> None:
            agg.head_history = _insert(agg.head_history, self.effective_at, self.head)

    class AnnualStatisticsPublished(Event):
        """统计年报: last year's enforcement data, due by 31 January (R61)."""

        TYPE: ClassVar[str] = "agency.annual_statistics_published.v1"
        year: int
        statistics: dict[str, int]
        content_hash: str
        replay_hash: str
        due: str
        flags: tuple[str, ...]

        def apply(self, agg: Agency) -> None:
            agg.statistics_years = (*agg.statistics_years, self.year)

    @staticmethod
    def id_for(agency_code: str) -> UUID:
        return natural_id("agency", agency_code)

    @classmethod
    def register(
        cls,
        *,
        agency_code: str,
        name: str,
        kind: str,
        jurisdiction: Iterable[str],
        at: datetime,
        actor: str,
        entrustment: dict[str, Any] | None = None,
    ) -> Agency:
        """Register a subject. Entrusted organisations need an entrustment letter
        ``{"ref", "published_on", "item_codes", "valid_until"}`` (APL art. 20)."""
        validate_uscc(agency_code)
        require_text(name, "name")
        require(
            kind in QUALIFIED_SUBJECT_KINDS | UNQUALIFIED_SUBJECT_KINDS,
            "E_SUBJECT_NOT_QUALIFIED",
            f"unknown subject kind {kind!r}",
        )
        if entrustment is not None:
            for key in ("ref", "published_on", "item_codes", "valid_until"):
                require(key in entrustment, "E_ENTRUSTMENT", f"entrustment lacks {key!r}")
            _day(entrustment["published_on"], "entrustment.published_on")
            _day(entrustment["valid_until"], "entrustment.valid_until")
            entrustment = {**entrustment, "item_codes": list(str_tuple(entrustment["item_codes"]))}
        check_time_not_before(at, None)
        return cls._create(
            cls.Registered,
            id=cls.id_for(agency_code),
            timestamp=at,
            actor=actor,
            agency_code=agency_code,
            name=name,
            kind=kind,
            jurisdiction=str_tuple(jurisdiction),
            entrustment=entrustment,
        )

    def change_status(
        self, *, status: str, effective_at: datetime, reason: str, at: datetime, actor: str,
    ) -> None:
        require(status in SUBJECT_STATUSES, "E_SUBJECT_NOT_QUALIFIED", f"bad status {status!r}")
        require_text(reason, "reason")
        check_time_not_before(at, self.modified_on)
        self.trigger_event(
            self.StatusChanged,
            timestamp=at,
            actor=actor,
            status=status,
            effective_at=to_micros(effective_at),
            reason=reason,
        )

    def appoint_head(self, *, head: str, effective_at: datetime, at: datetime, actor: str) -> None:
        require_text(head, "head")
        check_time_not_before(at, self.modified_on)
        self.trigger_event(
            self.HeadAppointed,
            timestamp=at,
            actor=actor,
            head=head,
            effective_at=to_micros(effective_at),
        )

    def publish_annual_statistics(
        self, *, year: int, statistics: dict[str, int], replay_hash: str, at: datetime, actor: str,
    ) -> None:
        """R61: last year's statistics, due 31 January; later → ``V_ANNUAL_STATS_OVERDUE``.

        ``statistics`` are integer counts (a deterministic projection); ``replay_hash``
        identifies the replay that produced them."""
        check_time_not_before(at, self.modified_on)
        require(isinstance(year, int) and not isinstance(year, bool), "E_OUT_OF_ORDER", "year must be an int")
        require(year < legal_day(at).year, "E_OUT_OF_ORDER", f"the statistics of {year} are published after it ends")
        require(year not in self.statistics_years, "E_OUT_OF_ORDER",
                f"the {year} statistics are already published")
        require(bool(statistics), "E_OUT_OF_ORDER", "the statistics are empty")
        for key, value in statistics.items():
            if not isinstance(key, str) or not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise UsageError(f"statistics are non-negative integer counts: {key!r}={value!r}")
        require_digest(replay_hash, "replay_hash")
        due = date(year + 1, 1, 31)
        late = legal_day(at) > due
        self.trigger_event(
            self.AnnualStatisticsPublished,
            timestamp=at,
            actor=actor,
            year=year,
            statistics=dict(statistics),
            content_hash=content_hash({"agency": self.agency_code, "year": year, "statistics": dict(statistics)}),
            replay_hash=replay_hash,
            due=iso_day(due),
            flags=("V_ANNUAL_STATS_OVERDUE",) if late else (),
        )

    def state_as_of(self, at: datetime) -> SubjectState:
        us = to_micros(at)
        return SubjectState(
            agency_code=self.agency_code,
            name=self.name,
            kind=self.kind,
            status=_as_of(self.status_history, us) or "not_yet_registered",
            head=_as_of(self.head_history, us),
            jurisdiction=self.jurisdiction,
            entrustment=self.entrustment,
        )

    def check_may_inspect(self, at: datetime, item_codes: Iterable[str]) -> None:
        """R3: confirmed, active, qualified kind; entrusted only within published scope."""
        state = self.state_as_of(at)
        require(
            state.kind in QUALIFIED_SUBJECT_KINDS,
            "E_SUBJECT_NOT_QUALIFIED",
            f"a {state.kind} may not inspect",
            agency_code=self.agency_code,
        )
        require(
            state.status == "active",
            "E_SUBJECT_NOT_QUALIFIED",
            f"subject {self.agency_code} is {state.status} on {iso_day(legal_day(at))}",
            agency_code=self.agency_code,
        )
        if state.kind == "entrusted_organisation":
            ent = state.entrustment
            require(ent is not None, "E_ENTRUSTMENT", "entrusted subject without entrustment")
            assert ent is not None
            day = legal_day(at)
            require(
                parse_day(ent["published_on"]) <= day <= parse_day(ent["valid_until"]),
                "E_ENTRUSTMENT",
                "entrustment letter not published or expired on the dispatch date",
            )
            outside = sorted(set(item_codes) - set(ent["item_codes"]))
            require(not outside, "E_ENTRUSTMENT", f"items outside the entrusted scope: {outside}")


# ---------------------------------------------------------------------------- officers

CERT_STATUSES = frozenset({"active", "suspended", "revoked"})


@dataclass(frozen=True, slots=True)
class CertState:
    """An enforcement certificate as of an instant (the bitemporal lookup of R5)."""

    cert_no: str
    person_id: str
    agency_code: str
    status: str
    valid_from: str
    valid_until: str
    categories: tuple[str, ...]

    def check_valid(self, at: datetime, categories: Iterable[str] = ()) -> None:
        """R5: active, ``valid_from ≤ legal_day(at) ≤ valid_until``, categories covered."""
        day = legal_day(at)
        if self.status != "active":
            raise CertificateInvalid(
                f"certificate {self.cert_no} is {self.status} at {at.isoformat()}",
                cert_no=self.cert_no,
            )
        if not parse_day(self.valid_from) <= day <= parse_day(self.valid_until):
            raise CertificateInvalid(
                f"certificate {self.cert_no} is valid {self.valid_from}..{self.valid_until},"
                f" not on legal day {iso_day(day)}",
                cert_no=self.cert_no,
            )
        missing = sorted(set(categories) - set(self.categories))
        if missing:
            raise CertificateInvalid(
                f"certificate {self.cert_no} does not cover categories {missing}",
                cert_no=self.cert_no,
            )


class Officer(CopyOnWrite, Aggregate):
    """An enforcement officer's certificate (执法证), keyed by certificate number."""

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        cert_no: str
        person_id: str
        name: str
        agency_code: str
        status_history: tuple[tuple[int, str], ...]
        validity_history: tuple[tuple[int, tuple[str, str, tuple[str, ...]]], ...]

    class CertificateIssued(Event, Aggregate.Created):
        TYPE: ClassVar[str] = "officer.certificate_issued.v1"
        cert_no: str
        person_id: str
        name: str
        agency_code: str
        categories: tuple[str, ...]
        valid_from: str
        valid_until: str

        def apply(self, agg: Officer) -> None:
            agg.cert_no = self.cert_no
            agg.person_id = self.person_id
            agg.name = self.name
            agg.agency_code = self.agency_code
            t = to_micros(self.timestamp)
            agg.status_history = ((t, "active"),)
            agg.validity_history = (
                (t, (self.valid_from, self.valid_until, freeze(self.categories))),
            )

    class CertificateStatusChanged(Event):
        """Suspension, revocation or reinstatement, effective at ``effective_at``."""

        TYPE: ClassVar[str] = "officer.certificate_status_changed.v1"
        status: str
        effective_at: int
        reason: str

        def apply(self, agg: Officer) -> None:
            agg.status_history = _insert(agg.status_history, self.effective_at, self.status)

    class CertificateRenewed(Event):
        TYPE: ClassVar[str] = "officer.certificate_renewed.v1"
        valid_from: str
        valid_until: str
        categories: tuple[str, ...]
        effective_at: int

        def apply(self, agg: Officer) -> None:
            value = (self.valid_from, self.valid_until, freeze(self.categories))
            agg.validity_history = _insert(agg.validity_history, self.effective_at, value)

    @staticmethod
    def id_for(cert_no: str) -> UUID:
        return natural_id("officer", cert_no)

    @classmethod
    def issue_certificate(
        cls,
        *,
        cert_no: str,
        person_id: str,
        name: str,
        agency_code: str,
        categories: Iterable[str],
        valid_from: str,
        valid_until: str,
        at: datetime,
        actor: str,
    ) -> Officer:
        require_text(cert_no, "cert_no")
        require_text(person_id, "person_id")
        validate_uscc(agency_code)
        cats = str_tuple(categories)
        require(bool(cats), "E_CERT_INVALID", "a certificate needs at least one category")
        require(
            _day(valid_from, "valid_from") <= _day(valid_until, "valid_until"),
            "E_CERT_INVALID",
            "valid_from is after valid_until",
        )
        check_time_not_before(at, None)
        return cls._create(
            cls.CertificateIssued,
            id=cls.id_for(cert_no),
            timestamp=at,
            actor=actor,
            cert_no=cert_no,
            person_id=person_id,
            name=name,
            agency_code=agency_code,
            categories=cats,
            valid_from=valid_from,
            valid_until=valid_until,
        )

    def change_status(
        self, *, status: str, effective_at: datetime, reason: str, at: datetime, actor: str,
    ) -> None:
        require(status in CERT_STATUSES, "E_CERT_INVALID", f"bad certificate status {status!r}")
        require_text(reason, "reason")
        check_time_not_before(at, self.modified_on)
        self.trigger_event(
            self.CertificateStatusChanged,
            timestamp=at,
            actor=actor,
            status=status,
            effective_at=to_micros(effective_at),
            reason=reason,
        )

    def renew(
        self,
        *,
        valid_from: str,
        valid_until: str,
        categories: Iterable[str],
        effective_at: datetime,
        at: datetime,
        actor: str,
    ) -> None:
        require(
            _day(valid_from, "valid_from") <= _day(valid_until, "valid_until"),
            "E_CERT_INVALID",
            "valid_from is after valid_until",
        )
        check_time_not_before(at, self.modified_on)
        self.trigger_event(
            self.CertificateRenewed,
            timestamp=at,
            actor=actor,
            valid_from=valid_from,
            valid_until=valid_until,
            categories=str_tuple(categories),
            effective_at=to_micros(effective_at),
        )

    def certificate_as_of(self, at: datetime) -> CertState:
        """The certificate as it stood at ``at`` (valid time)."""
        us = to_micros(at)
        status = _as_of(self.status_history, us) or "not_yet_issued"
        vf, vu, cats = _as_of(self.validity_history, us) or self.validity_history[0][1]
        return CertState(
            cert_no=self.cert_no,
            person_id=self.person_id,
            agency_code=self.agency_code,
            status=status,
            valid_from=vf,
            valid_until=vu,
            categories=tuple(cats),
        )


# -------------------------------------------------------------------------- enterprises


@dataclass(frozen=True, slots=True)
class EnterpriseState:
    uscc: str
    name: str
    sector: str
    admin_division: str
    risk_class: str
    positive_list: bool


class Enterprise(CopyOnWrite, Aggregate):
    """An enterprise party, keyed by its USCC (R1), with credit-risk class and the
    positive-list flag (R12, R16)."""

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        uscc: str
        name: str
        sector: str
        admin_division: str
        risk_history: tuple[tuple[int, str], ...]
        positive_history: tuple[tuple[int, bool], ...]

    class Registered(Event, Aggregate.Created):
        TYPE: ClassVar[str] = "enterprise.registered.v1"
        uscc: str
        name: str
        sector: str
        admin_division: str
        risk_class: str
        positive_list: bool

        def apply(self, agg: Enterprise) -> None:
            agg.uscc = self.uscc
            agg.name = self.name
            agg.sector = self.sector
            agg.admin_division = self.admin_division
            t = to_micros(self.timestamp)
            agg.risk_history = ((t, self.risk_class),)
            agg.positive_history = ((t, self.positive_list),)

    class RiskClassChanged(Event):
        TYPE: ClassVar[str] = "enterprise.risk_class_changed.v1"
        risk_class: str
        effective_at: int

        def apply(self, agg: Enterprise) -> None:
            agg.risk_history = _insert(agg.risk_history, self.effective_at, self.risk_class)

    class PositiveListChanged(Event):
        TYPE: ClassVar[str] = "enterprise.positive_list_changed.v1"
        on_list: bool
        effective_at: int
        reason: str

        def apply(self, agg: Enterprise) -> None:
            agg.positive_history = _insert(agg.positive_history, self.effective_at, self.on_list)

    @staticmethod
    def id_for(uscc: str) -> UUID:
        return natural_id("enterprise", validate_uscc(uscc))

    @classmethod
    def register(
        cls,
        *,
        uscc: str,
        name: str,
        sector: str,
        admin_division: str,
        risk_class: str,
        positive_list: bool,
        at: datetime,
        actor: str,
    ) -> Enterprise:
        validate_uscc(uscc)
        require_text(name, "name")
        require_text(sector, "sector")
        require_text(risk_class, "risk_class")
        check_time_not_before(at, None)
        return cls._create(
            cls.Registered,
            id=cls.id_for(uscc),
            timestamp=at,
            actor=actor,
            uscc=uscc,
            name=name,
            sector=sector,
            admin_division=admin_division,
            risk_class=risk_class,
            positive_list=bool(positive_list),
        )

    def change_risk_class(
        self, *, risk_class: str, effective_at: datetime, at: datetime, actor: str,
    ) -> None:
        require_text(risk_class, "risk_class")
        check_time_not_before(at, self.modified_on)
        self.trigger_event(
            self.RiskClassChanged,
            timestamp=at,
            actor=actor,
            risk_class=risk_class,
            effective_at=to_micros(effective_at),
        )

    def set_positive_list(
        self, *, on_list: bool, effective_at: datetime, reason: str, at: datetime, actor: str,
    ) -> None:
        require_text(reason, "reason")
        check_time_not_before(at, self.modified_on)
        self.trigger_event(
            self.PositiveListChanged,
            timestamp=at,
            actor=actor,
            on_list=bool(on_list),
            effective_at=to_micros(effective_at),
            reason=reason,
        )

    def state_as_of(self, at: datetime) -> EnterpriseState:
        us = to_micros(at)
        return EnterpriseState(
            uscc=self.uscc,
            name=self.name,
            sector=self.sector,
            admin_division=self.admin_division,
            risk_class=_as_of(self.risk_history, us) or self.risk_history[0][1],
            positive_list=bool(_as_of(self.positive_history, us)),
        )


# ------------------------------------------------------------- enterprise-year counter


class EnterpriseYear(CopyOnWrite, Aggregate):
    """Inspections of one enterprise by one agency in one legal year (R12).

    Saved atomically with each dispatch: optimistic concurrency on this aggregate's
    version is what keeps concurrent dispatches from exceeding the cap.
    """

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        uscc: str
        agency_code: str
        year: int
        counted: tuple[str, ...]
        counted_at: dict[str, int]

    class Opened(Event, Aggregate.Created):
        TYPE: ClassVar[str] = "enterprise_year.opened.v1"
        uscc: str
        agency_code: str
        year: int

        def apply(self, agg: EnterpriseYear) -> None:
            agg.uscc = self.uscc
            agg.agency_code = self.agency_code
            agg.year = self.year
            agg.counted = ()
            agg.counted_at = {}

    class InspectionCounted(Event):
        TYPE: ClassVar[str] = "enterprise_year.inspection_counted.v1"
        inspection_id: str
        ytd_before: int
        cap: int
        cap_version: int
        flags: tuple[str, ...]

        def apply(self, agg: EnterpriseYear) -> None:
            agg.counted = (*agg.counted, self.inspection_id)
            agg.counted_at = {**agg.counted_at, self.inspection_id: to_micros(self.timestamp)}

    class InspectionReleased(Event):
        """A cancelled task no longer counts."""

        TYPE: ClassVar[str] = "enterprise_year.inspection_released.v1"
        inspection_id: str
        reason: str

        def apply(self, agg: EnterpriseYear) -> None:
            agg.counted = tuple(i for i in agg.counted if i != self.inspection_id)
            agg.counted_at = {k: v for k, v in agg.counted_at.items() if k != self.inspection_id}

    @staticmethod
    def id_for(uscc: str, agency_code: str, year: int) -> UUID:
        return natural_id("enterprise_year", uscc, agency_code, str(int(year)))

    @classmethod
    def open(
        cls, *, uscc: str, agency_code: str, year: int, at: datetime, actor: str,
    ) -> EnterpriseYear:
        validate_uscc(uscc)
        validate_uscc(agency_code)
        return cls._create(
            cls.Opened,
            id=cls.id_for(uscc, agency_code, year),
            timestamp=at,
            actor=actor,
            uscc=uscc,
            agency_code=agency_code,
            year=int(year),
        )

    @property
    def ytd(self) -> int:
        return len(self.counted)

    def counted_since(self, since_us: int) -> tuple[str, ...]:
        """Inspections counted at or after ``since_us`` (R13: another recent task)."""
        return tuple(i for i, t in self.counted_at.items() if t >= since_us)

    def check_cap(self, cap: int) -> tuple[str, ...]:
        """R12: refuse ``E_FREQUENCY_CAP`` if one more would exceed; flag at the cap."""
        return check_frequency(self.ytd, cap)

    def count_inspection(
        self, *, inspection_id: str, cap: int, cap_version: int, at: datetime, actor: str,
    ) -> tuple[str, ...]:
        flags = self.check_cap(cap)
        require(
            inspection_id not in self.counted,
            "E_OUT_OF_ORDER",
            f"inspection {inspection_id} already counted",
        )
        self.trigger_event(
            self.InspectionCounted,
            timestamp=at,
            actor=actor,
            inspection_id=inspection_id,
            ytd_before=self.ytd,
            cap=cap,
            cap_version=cap_version,
            flags=flags,
        )
        return flags

    def release(self, *, inspection_id: str, reason: str, at: datetime, actor: str) -> None:
        require(
            inspection_id in self.counted, "E_OUT_OF_ORDER", f"{inspection_id} not counted",
        )
        self.trigger_event(
            self.InspectionReleased,
            timestamp=at,
            actor=actor,
            inspection_id=inspection_id,
            reason=reason,
        )


def check_frequency(ytd: int, cap: int) -> tuple[str, ...]:
    """R12 on numbers: ``ytd + 1 > cap`` → ``E_FREQUENCY_CAP``; ``== cap`` → flag."""
    if ytd + 1 > cap:
        raise RuleViolation(
            "E_FREQUENCY_CAP",
            f"{ytd} inspections this year already; the published cap is {cap}",
            ytd=ytd,
            cap=cap,
        )
    return ("W_FREQUENCY_AT_CAP",) if ytd + 1 == cap else ()
