"""Pure domain services for commands that span aggregates.

Each function takes already-loaded aggregates (and the holiday calendar), checks
the cross-aggregate rules *as of* the command's ``at``, mutates the aggregates and
returns what must be saved.  Nothing here does I/O; ``ledger.enforcement`` loads and
saves.  All checks run before the first mutation, so a refusal leaves no pending
events on any aggregate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.base import require, str_tuple
from domain.calendar import legal_day, to_micros
from domain.errors import RuleViolation
from domain.inspection import DISGUISED_ACTIVITIES, Inspection
from domain.penalty import FineRegister
from domain.random_draw import RandomDraw
from domain.reference import (
    ANNUAL_PLAN,
    DISCRETION_BENCHMARK,
    FREQUENCY_CAPS,
    ITEM_LIST,
    OFFICER_ROSTER,
    ReferenceList,
)
from domain.registers import (
    Agency,
    CertState,
    Enterprise,
    EnterpriseYear,
    Officer,
    check_frequency,
)
from domain.special import SpecialCampaign
from domain.tasking import check_case_source

#: Which inspection types count towards the yearly cap (R12; configuration).
DEFAULT_COUNTED_TYPES = frozenset({"routine", "special"})
#: R13: another task of the same agency for the same enterprise within this many days
#: suggests merging (configuration).
DEFAULT_MERGE_WINDOW_DAYS = 30
_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class AgencyAssignment:
    """One agency's part of a (possibly joint, 综合查一次) dispatch."""

    agency: Agency
    item_codes: tuple[str, ...]
    officers: tuple[Officer, ...]
    item_list: ReferenceList | None
    caps: ReferenceList | None = None
    plan: ReferenceList | None = None
    enterprise_year: EnterpriseYear | None = None
    assistance_request_ref: str | None = None
    roster: ReferenceList | None = None


@dataclass(frozen=True)
class DispatchResult:
    inspection: Inspection
    enterprise_years: tuple[EnterpriseYear, ...] = field(default=())

    @property
    def aggregates(self) -> tuple[Any, ...]:
        return (self.inspection, *self.enterprise_years)


def _require_list(lst: ReferenceList | None, kind: str, code: str, what: str) -> ReferenceList:
    if lst is None or lst.kind != kind:
        raise RuleViolation(code, f"no published {what}")
    return lst


def dispatch_inspection(
    *,
    task_no: str,
    inspection_type: str,
    mode: str,
    enterprise: Enterprise,
    assignments: Sequence[AgencyAssignment],
    at: datetime,
    actor: str,
    special_approval: Mapping[str, Any] | None = None,
    random_draw_ref: str | None = None,
    emergency: bool = False,
    legal_rep_required: bool = False,
    legal_rep_basis: str | None = None,
    activity: str = "inspection",
    mode_reason: str | None = None,
    counted_types: Iterable[str] = DEFAULT_COUNTED_TYPES,
    special_campaign: SpecialCampaign | None = None,
    random_draw: RandomDraw | None = None,
    inspector_draw: RandomDraw | None = None,
    merge_window_days: int = DEFAULT_MERGE_WINDOW_DAYS,
    case_source: Mapping[str, Any] | None = None,
) -> DispatchResult:
    """派单 (R3, R4, R5, R6, R10, R11, R12, R13, R14, R15, R16, R20, R55).

    The first assignment's agency leads. Returns the new inspection and the
    enterprise-year counters to save atomically with it. A 个案 task names ``case_source``
    (``{"kind", "ref"}``, :func:`domain.tasking.check_case_source`).

    ``special_campaign`` (R11) must be assessed, approved and filed with justice before
    ``at``. ``random_draw`` (R14) is a performed draw of targets that selected the
    enterprise; ``inspector_draw`` a performed draw of inspectors that selected the
    assigned officers of its agency.
    """
    require(activity not in DISGUISED_ACTIVITIES, "E_DISGUISED_INSPECTION",
            f"{activity!r} cannot create inspection events (R20)")
    require(bool(assignments), "E_NO_DISPATCH", "a dispatch needs at least one agency")
    check_case_source(inspection_type, case_source)
    codes_seen = [a.agency.agency_code for a in assignments]
    require(len(set(codes_seen)) == len(codes_seen), "E_NO_DISPATCH", "an agency appears twice")
    ent = enterprise.state_as_of(at)
    year = legal_day(at).year
    counted = inspection_type in set(counted_types)

    # R16: positive-list enterprises get no routine on-site checks.
    require(
        not (inspection_type == "routine" and mode == "on_site" and ent.positive_list),
        "E_POSITIVE_LIST",
        f"{ent.uscc} is on the positive list: routine checks are off-site (R16)",
    )
    # R11: special inspections need the assessed, approved and filed campaign.
    if inspection_type == "special":
        require(special_campaign is not None, "E_SPECIAL_NOT_APPROVED",
                "a special inspection needs its assessed, approved and filed campaign (R11)")
        assert special_campaign is not None
        special_approval = {**dict(special_approval or {}),
                            **special_campaign.check_ready(assignments[0].agency.agency_code, at)}
    # R14: the draws must be performed, of an agency on the task, and have selected
    # this enterprise (targets) and the assigned officers (inspectors).
    agency_codes = set(codes_seen)
    if random_draw is not None:
        require(random_draw.agency_code in agency_codes, "E_RANDOM_DRAW_MISSING",
                f"draw {random_draw.ref} is not a draw of an agency on this task")
        random_draw.check_selected([ent.uscc], purpose="targets", agency_code=random_draw.agency_code)
        random_draw_ref = random_draw.ref
    if inspector_draw is not None:
        require(inspector_draw.agency_code in agency_codes, "E_RANDOM_DRAW_MISSING",
                f"draw {inspector_draw.ref} is not a draw of an agency on this task")
        asg_of_draw = next(a for a in assignments if a.agency.agency_code == inspector_draw.agency_code)
        inspector_draw.check_selected([o.cert_no for o in asg_of_draw.officers], purpose="inspectors",
                                      agency_code=inspector_draw.agency_code)

    rows: list[dict[str, Any]] = []
    counters: list[tuple[AgencyAssignment, int, int]] = []
    flags: list[str] = []
    plan_ref: dict[str, Any] | None = None
    for asg in assignments:
        code = asg.agency.agency_code
        items = str_tuple(asg.item_codes)
        require(bool(items), "E_ITEM_NOT_PUBLISHED", f"{code} dispatches no item")
        # R3
        asg.agency.check_may_inspect(at, items)
        # R15
        state = asg.agency.state_as_of(at)
        in_area = any(ent.admin_division.startswith(p) for p in state.jurisdiction)
        require(
            in_area or bool(asg.assistance_request_ref),
            "E_OUT_OF_JURISDICTION",
            f"{ent.admin_division} is outside {code}'s jurisdiction; an assistance request is needed (R15)",
        )
        # R4
        item_list = _require_list(asg.item_list, ITEM_LIST, "E_ITEM_NOT_PUBLISHED", f"item list of {code}")
        version = item_list.version_in_force(at)
        require(version is not None, "E_ITEM_NOT_PUBLISHED", f"no item list of {code} in force")
        assert version is not None
        entries = version.require_items(items)
        # R10
        plan_version = None
        if inspection_type == "routine":
            plan = _require_list(asg.plan, ANNUAL_PLAN, "E_NOT_IN_PLAN", f"annual plan of {code}")
            plan_version = plan.version_in_force(at)
            require(
                plan_version is not None and plan.scope == str(year) and plan_version.plan_covers(items),
                "E_NOT_IN_PLAN",
                f"routine items {list(items)} are not in {code}'s published {year} plan (R10)",
            )
            assert plan_version is not None
            plan_ref = plan_ref or {"agency_code": code, **plan_version.ref()}
        # R14
        if inspection_type == "routine" and any(e.get("double_random") for e in entries):
            require(random_draw is not None, "E_RANDOM_DRAW_MISSING",
                    "双随机 items need a performed random draw that selected this enterprise (R14)")
        # R13: off-site capable item, or another recent task of this agency for this enterprise.
        if mode == "on_site" and any(e.get("offsite_capable") for e in entries):
            flags.append("W_MERGE_OR_OFFSITE_POSSIBLE")
        ey_recent = asg.enterprise_year
        if (
            mode == "on_site"
            and ey_recent is not None
            and ey_recent.counted_since(to_micros(at) - merge_window_days * _DAY_US)
        ):
            flags.append("W_MERGE_OR_OFFSITE_POSSIBLE")
        # R5, R6 at dispatch: the team is certified for these categories today.
        categories = tuple(sorted({e["category"] for e in entries}))
        certs: list[CertState] = []
        for officer in asg.officers:
            cert = officer.certificate_as_of(at)
            require(cert.agency_code == code, "E_CERT_INVALID",
                    f"certificate {cert.cert_no} belongs to {cert.agency_code}, not {code}")
            cert.check_valid(at, categories)
            certs.append(cert)
        persons = {c.person_id for c in certs}
        require(
            len(persons) >= 2 and len({c.cert_no for c in certs}) >= 2,  # noqa: PLR2004 - two officers with two certificates (R5)
            "E_OFFICER_COUNT",
            f"{code} assigns fewer than two distinct certified officers (R6)",
        )
        # R55: each officer is on the agency's published roster in force.
        roster_version = (
            asg.roster.version_in_force(at)
            if asg.roster is not None and asg.roster.kind == OFFICER_ROSTER
            else None
        )
        if roster_version is None or not all(roster_version.lists_officer(c.cert_no) for c in certs):
            flags.append("W_OFFICER_NOT_PUBLISHED")
        # R12 (numbers only; mutation below)
        cap_snapshot = None
        if counted:
            caps = _require_list(asg.caps, FREQUENCY_CAPS, "E_FREQUENCY_CAP", f"frequency caps of {code}")
            caps_version = caps.version_in_force(at)
            cap = caps_version.cap_for(ent.sector, ent.risk_class) if caps_version else None
            if cap is None:
                raise RuleViolation(
                    "E_FREQUENCY_CAP",
                    f"no published cap for sector {ent.sector!r}, risk class {ent.risk_class!r}",
                )
            assert caps_version is not None
            ey = asg.enterprise_year
            if ey is not None:
                require(
                    ey.id == EnterpriseYear.id_for(ent.uscc, code, year),
                    "E_OUT_OF_ORDER",
                    "wrong enterprise-year counter",
                )
                require(
                    str(Inspection.id_for(assignments[0].agency.agency_code, task_no)) not in ey.counted,
                    "E_OUT_OF_ORDER",
                    f"task {task_no!r} was already dispatched",
                )
            ytd = ey.ytd if ey is not None else 0
            flags.extend(check_frequency(ytd, cap))
            counters.append((asg, cap, caps_version.version))
            cap_snapshot = {"ytd_before": ytd, "cap": cap, "cap_version": caps_version.version,
                            "cap_hash": caps_version.content_hash,
                            "sector": ent.sector, "risk_class": ent.risk_class}
        rows.append(
            {
                "agency_code": code,
                "item_codes": list(items),
                "categories": list(categories),
                "item_list": version.ref(),
                "plan": plan_version.ref() if plan_version else None,
                "no_penalty_items": [e["code"] for e in entries if e.get("no_penalty_listed")],
                "officers": [{"cert_no": c.cert_no, "person_id": c.person_id} for c in certs],
                "frequency": cap_snapshot,
                "assistance_request_ref": asg.assistance_request_ref,
                "roster": roster_version.ref() if roster_version else None,
                "random_draw": random_draw.record() if random_draw and random_draw.agency_code == code else None,
                "inspector_draw": (
                    inspector_draw.record() if inspector_draw and inspector_draw.agency_code == code else None
                ),
            },
        )

    inspection = Inspection.dispatch(
        task_no=task_no,
        lead_agency=assignments[0].agency.agency_code,
        inspection_type=inspection_type,
        mode=mode,
        uscc=ent.uscc,
        assignments=rows,
        at=at,
        actor=actor,
        plan=plan_ref,
        special_approval=special_approval,
        random_draw_ref=random_draw_ref,
        case_source=case_source,
        emergency=emergency,
        legal_rep_required=legal_rep_required,
        legal_rep_basis=legal_rep_basis,
        flags=tuple(dict.fromkeys(flags)),
        flag_reason=mode_reason,
    )
    years: list[EnterpriseYear] = []
    for asg, cap, cap_version in counters:
        ey = asg.enterprise_year or EnterpriseYear.open(
            uscc=ent.uscc, agency_code=asg.agency.agency_code, year=year, at=at, actor=actor,
        )
        ey.count_inspection(
            inspection_id=str(inspection.id), cap=cap, cap_version=cap_version, at=at, actor=actor,
        )
        years.append(ey)
    return DispatchResult(inspection, tuple(years))


def cancel_inspection(
    inspection: Inspection,
    enterprise_years: Sequence[EnterpriseYear],
    *,
    reason: str,
    at: datetime,
    actor: str,
) -> None:
    """Cancel a task not yet started and release its yearly-cap slots (R12)."""
    inspection.cancel(reason=reason, at=at, actor=actor)
    for ey in enterprise_years:
        if str(inspection.id) in ey.counted:
            ey.release(inspection_id=str(inspection.id), reason=reason, at=at, actor=actor)


def approve_dispatch(inspection: Inspection, agency: Agency, *, approver: str, at: datetime) -> None:
    """R9: the head of the subject, as of ``at``, approves."""
    inspection.approve(agency=agency.state_as_of(at), approver=approver, at=at)


def certificates_as_of(officers: Iterable[Officer], at: datetime) -> tuple[CertState, ...]:
    """The bitemporal certificate lookup (R5) for every officer."""
    return tuple(o.certificate_as_of(at) for o in officers)


def resolve_benchmark(benchmarks: ReferenceList | None, code: str | None, at: datetime) -> dict[str, Any] | None:
    """R42: the benchmark entry ``code`` in the version in force at ``at``."""
    if benchmarks is None or code is None:
        return None
    require(benchmarks.kind == DISCRETION_BENCHMARK, "E_NO_BENCHMARK", "not a benchmark list")
    version = benchmarks.version_in_force(at)
    entry = version.benchmark(code) if version else None
    if version is None or entry is None:
        return None
    return {**version.ref(), "published_at": version.published_at, **entry}


def decide_case(
    inspection: Inspection,
    fine_register: FineRegister | None,
    *,
    at: datetime,
    **decision: Any,
) -> FineRegister | None:
    """处理决定 with R32: a fine is recorded on the violation's register, saved with the
    decision; another standing fine for the same violation refuses it (``E_DOUBLE_FINE``).

    ``decision`` are the keyword arguments of :meth:`Inspection.decide`. Returns the
    register to save (``None`` when no fine is imposed)."""
    fined = decision.get("outcome") == "penalty" and int(decision.get("fine_fen", 0) or 0) > 0
    if fined and inspection.violation is not None:
        key = FineRegister.id_for(inspection.uscc, inspection.violation["fingerprint"])
        if fine_register is not None:
            require(fine_register.id == key, "E_OUT_OF_ORDER", "wrong fine register for this violation")
            fine_register.check_no_other_fine(str(inspection.id))
    inspection.decide(at=at, **decision)
    if not fined:
        return None
    assert inspection.violation is not None
    register = fine_register or FineRegister.open(uscc=inspection.uscc,
                                                  fingerprint=inspection.violation["fingerprint"],
                                                  at=at, actor=decision["decider"])
    register.record_fine(inspection_id=str(inspection.id), decision_no=decision["decision_no"],
                         agency_code=inspection.lead_agency, fine_fen=int(decision["fine_fen"]), at=at,
                         actor=decision["decider"])
    return register


def alter_decision(
    inspection: Inspection,
    fine_register: FineRegister | None,
    *,
    kind: str,
    at: datetime,
    actor: str,
    **alteration: Any,
) -> FineRegister | None:
    """R51 alteration; a revoked, illegal or void decision's fine no longer stands (R32)."""
    inspection.alter_decision(kind=kind, at=at, actor=actor, **alteration)
    if (
        kind in {"revoked", "confirmed_illegal", "confirmed_void"}
        and fine_register is not None
        and str(inspection.id) in fine_register.fines
    ):
        fine_register.release(inspection_id=str(inspection.id), reason=kind, at=at, actor=actor)
        return fine_register
    return None
