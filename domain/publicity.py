"""Publication periods, automatic expiry and credit repair (R53, R54).

Each published penalty gets a ``public_until`` date (``cf_gsjzq``) computed from the
publication *regime version* in force on the publication's legal day:

==================  ==========  ==========================================================
channel / version   in force    periods (months: min–max, default max; repair minimum)
==================  ==========  ==========================================================
samr/samr45_2021    2021-09-01  3 for 通报批评 or a lower fine, 36 otherwise, or the actual
                                restriction if longer than 3 years; from the publication
                                day (SAMR45 art. 13) [P]; repair minimum 12 [U: SAMR sets it]
credit_china/       (earliest)  general 3–12, serious 6–36; repair minimum = the minimum
 ndrc_527_2019                  period; from the decision day [S]
credit_china/       2023-05-01  3–36 [S: NDRC Order 58 summary; effective date U]
 ndrc_58_2023
credit_china/       2026-04-01  minor not published (≤ 3 only where deemed necessary),
 credit_repair_2026             general 3–12, serious 12–36; from the decision day [S]
==================  ==========  ==========================================================

After ``public_until`` the public projection hides the entry (see
:meth:`PublicationPeriods.publication_visible_on`); ``expire_publication`` records the
expiry as its own event; the ledger keeps everything.

``PublicationPeriods`` is a mixin of :class:`domain.inspection.Inspection`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from domain.base import (
    add_months,
    require,
    require_bool_flags,
    require_order,
    require_text,
)
from domain.calendar import from_micros, iso_day, legal_day, parse_day
from domain.errors import RuleViolation

CATEGORIES = frozenset({"minor", "general", "serious"})
#: SAMR45 art. 14: never repaired early.
REPAIR_EXCLUDED_KINDS = frozenset(
    {"责令停产停业", "限制开展生产经营活动", "限制从业", "降低资质等级", "吊销许可证件", "责令关闭"},
)
REPAIR_CONDITIONS = ("obligations_fulfilled", "harm_eliminated", "no_repeat_violation", "not_on_abnormal_lists")
#: SAMR45 art. 13: "较低数额罚款" is set by the provinces (configuration) [U].
DEFAULT_LOW_FINE_FEN = 1_000_000


@dataclass(frozen=True, slots=True)
class PeriodRule:
    min_months: int
    max_months: int
    repair_min_months: int


@dataclass(frozen=True, slots=True)
class RegimeVersion:
    channel: str
    version: str
    effective_from: date
    start: str  # "decision" | "publication"
    rules: dict[str, PeriodRule] = field(default_factory=dict)


REGIME_VERSIONS: tuple[RegimeVersion, ...] = (
    RegimeVersion("samr", "samr45_2021", date(2021, 9, 1), "publication", {
        "low": PeriodRule(3, 3, 3), "other": PeriodRule(36, 36, 12)}),
    RegimeVersion("credit_china", "ndrc_527_2019", date(2019, 1, 1), "decision", {
        "minor": PeriodRule(3, 12, 3), "general": PeriodRule(3, 12, 3), "serious": PeriodRule(6, 36, 6)}),
    RegimeVersion("credit_china", "ndrc_58_2023", date(2023, 5, 1), "decision", {
        "minor": PeriodRule(3, 36, 3), "general": PeriodRule(3, 36, 3), "serious": PeriodRule(3, 36, 3)}),
    RegimeVersion("credit_china", "credit_repair_2026", date(2026, 4, 1), "decision", {
        "minor": PeriodRule(0, 3, 0), "general": PeriodRule(3, 12, 3), "serious": PeriodRule(12, 36, 12)}),
)


def channel_of(regime: str) -> str:
    """The publication channel of an R48 deadline regime."""
    return "samr" if regime.startswith("samr") else "credit_china"


def regime_version_on(channel: str, day: date) -> RegimeVersion:
    """The version of ``channel`` in force on ``day`` (fails closed before the first)."""
    found = None
    for v in REGIME_VERSIONS:
        if v.channel == channel and v.effective_from <= day and (
            found is None or v.effective_from > found.effective_from
        ):
            found = v
    if found is None:
        raise RuleViolation("E_PUBLICATION_PERIOD", f"no {channel} publication regime in force on {iso_day(day)}")
    return found


@dataclass(frozen=True, slots=True)
class PublicationPeriod:
    regime_version: str
    channel: str
    category: str
    start_on: date
    period_months: int
    public_until: date
    repair_min_until: date

    def as_fields(self) -> dict[str, Any]:
        return {
            "regime_version": self.regime_version,
            "channel": self.channel,
            "category": self.category,
            "start_on": iso_day(self.start_on),
            "period_months": self.period_months,
            "public_until": iso_day(self.public_until),
            "repair_min_until": iso_day(self.repair_min_until),
        }


def compute_publication_period(
    *,
    regime: str,
    decided_on: date,
    published_on: date,
    penalty_kinds: tuple[str, ...],
    fine_fen: int,
    category: str | None,
    period_months: int | None = None,
    restriction_months: int = 0,
    necessity_reason: str | None = None,
    low_fine_fen: int = DEFAULT_LOW_FINE_FEN,
) -> PublicationPeriod:
    """R53: ``public_until = f(regime version, category, start day)``."""
    channel = channel_of(regime)
    version = regime_version_on(channel, published_on)
    if channel == "samr":
        low = set(penalty_kinds) <= {"通报批评", "警告"} or (
            set(penalty_kinds) <= {"通报批评", "警告", "罚款"} and fine_fen <= low_fine_fen)
        cat = "low" if low else "other"
        rule = version.rules[cat]
        months = rule.max_months
        if restriction_months > 36 and set(penalty_kinds) & {"限制开展生产经营活动", "限制从业"}:  # noqa: PLR2004 - the 36-month restriction threshold
            months = restriction_months
        require(period_months in (None, months), "E_PUBLICATION_PERIOD",
                f"SAMR45 art. 13 fixes this period at {months} months, not {period_months}")
    else:
        require(category in CATEGORIES, "E_PUBLICATION_PERIOD",
                f"the credit category must be one of {sorted(CATEGORIES)}, not {category!r} (R53)")
        assert category is not None
        cat = category
        rule = version.rules[cat]
        if version.version == "credit_repair_2026" and cat == "minor":
            require(bool(necessity_reason and necessity_reason.strip()), "E_NOT_PUBLISHABLE",
                    "under the 2026 credit-repair rules minor violations are not published unless deemed"
                    " necessary, and then for at most 3 months (R53)")
        months = rule.max_months if period_months is None else period_months
        require(
            isinstance(months, int) and not isinstance(months, bool) and max(1, rule.min_months) <= months
            <= rule.max_months,
            "E_PUBLICATION_PERIOD",
            f"a {cat} entry under {version.version} is published {rule.min_months}-{rule.max_months} months,"
            f" not {months!r} (R53)",
        )
    start = published_on if version.start == "publication" else decided_on
    return PublicationPeriod(
        regime_version=version.version,
        channel=channel,
        category=cat,
        start_on=start,
        period_months=months,
        public_until=add_months(start, months),
        repair_min_until=add_months(start, rule.repair_min_months),
    )


class PublicationPeriods:
    """Expiry and credit repair of a publication, mixed into ``Inspection``."""

    if TYPE_CHECKING:  # provided by Inspection / eventsourcing
        decision: dict[str, Any] | None
        publication: dict[str, Any] | None
        payments: tuple[dict[str, Any], ...]
        PublicationExpired: Any
        CreditRepairApproved: Any

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _begin(self, at: datetime, actor: str | None = None) -> None: ...

    def publication_visible_on(self, day: date) -> bool:
        """R53: shown on ``day`` (published, not withdrawn, expired or repaired, and not
        past ``public_until``). For projections."""
        pub = self.publication
        if pub is None or pub["status"] != "published":
            return False
        until = pub.get("public_until")
        return until is None or day <= parse_day(until)

    def expire_publication(self, *, at: datetime, actor: str) -> None:
        """R53: the period has ended; the expiry is recorded as its own event."""
        self._begin(at, actor)
        pub = self.publication
        require_order(pub is not None and pub["status"] == "published", "nothing is published")
        assert pub is not None
        until = pub.get("public_until")
        require_order(until is not None and legal_day(at) > parse_day(until),
                      f"the publication period runs until {until}")
        self.trigger_event(self.PublicationExpired, timestamp=at, actor=actor, public_until=until)

    def approve_credit_repair(
        self, *, conditions: Mapping[str, bool], application_ref: str, approver: str, at: datetime,
    ) -> None:
        """R54 (SAMR45 art. 14): early removal needs the minimum period, the four
        conditions, and a penalty outside the excluded kinds; else ``E_REPAIR_NOT_ELIGIBLE``."""
        self._begin(at, approver)
        pub, d = self.publication, self.decision
        require_order(pub is not None and pub["status"] == "published" and d is not None,
                      "credit repair removes a published entry")
        assert pub is not None
        assert d is not None
        require_text(application_ref, "application_ref")
        require_text(approver, "approver")
        flags = require_bool_flags(conditions, REPAIR_CONDITIONS, "E_REPAIR_NOT_ELIGIBLE", "conditions")
        excluded = sorted(set(d["penalty_kinds"]) & REPAIR_EXCLUDED_KINDS)
        require(not excluded, "E_REPAIR_NOT_ELIGIBLE", f"{excluded} are never removed early (R54)")
        unmet = [k for k, v in flags.items() if not v]
        require(not unmet, "E_REPAIR_NOT_ELIGIBLE", f"repair conditions not met: {unmet} (R54)")
        require(d.get("fine_fen", 0) == 0 or bool(self.payments), "E_REPAIR_NOT_ELIGIBLE",
                "the fine has not been paid: obligations are not fulfilled (R54)")
        min_until = pub.get("repair_min_until")
        if min_until is None:  # published before periods were recorded: the SAMR default
            min_until = iso_day(add_months(legal_day(from_micros(pub["published_at"])), 12))
        require(legal_day(at) >= parse_day(min_until), "E_REPAIR_NOT_ELIGIBLE",
                f"credit repair is possible from {min_until}, after the minimum publication period (R54)",
                repair_min_until=min_until)
        self.trigger_event(self.CreditRepairApproved, timestamp=at, actor=approver, application_ref=application_ref,
                           approver=approver, conditions=flags, repair_min_until=min_until)
