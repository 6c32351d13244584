"""Wire names of every domain event and aggregate.

``EVENT_TYPES`` maps the registry name (``"inspection.dispatched.v1"``) to the event
class; the ledger codec uses it instead of Python module paths or eventsourcing topics.
Names are never reused: a changed event gets a new ``.vN`` name and the old class stays
so that old history replays.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, CanMutateAggregate

from domain.calendar_year import CalendarRegister
from domain.coercion import CoerciveMeasure
from domain.evidence import MonitoringDevice
from domain.inspection import Inspection
from domain.penalty import FineRegister
from domain.random_draw import RandomDraw
from domain.reference import ReferenceList
from domain.registers import Agency, Enterprise, EnterpriseYear, Officer
from domain.special import SpecialCampaign

#: Wire name → aggregate class.
AGGREGATE_TYPES: dict[str, type[Aggregate]] = {
    "agency": Agency,
    "officer": Officer,
    "enterprise": Enterprise,
    "enterprise_year": EnterpriseYear,
    "reference_list": ReferenceList,
    "inspection": Inspection,
    "random_draw": RandomDraw,
    "special": SpecialCampaign,
    "fine_register": FineRegister,
    "device": MonitoringDevice,
    "coercive": CoerciveMeasure,
    "calendar": CalendarRegister,
}


def _event_classes(agg: type[Aggregate]) -> list[type[Any]]:
    """The concrete event classes of ``agg``.

    Skips the per-aggregate ``Event`` base and the ``Created`` class that eventsourcing
    generates on every aggregate subclass: we never trigger it (every aggregate is
    created through its own named, registered creation event).
    """
    return [
        v
        for k, v in vars(agg).items()
        if isinstance(v, type)
        and issubclass(v, CanMutateAggregate)
        and k not in {"Event", "Created"}
    ]


def _build() -> dict[str, type[Any]]:
    out: dict[str, type[Any]] = {}
    for agg in AGGREGATE_TYPES.values():
        for cls in _event_classes(agg):
            name = cls.__dict__.get("TYPE")
            if not isinstance(name, str):
                msg = f"{cls.__qualname__} has no TYPE wire name"
                raise TypeError(msg)
            if name in out:
                msg = f"duplicate wire name {name!r}: {out[name].__qualname__} and {cls.__qualname__}"
                raise TypeError(msg)
            out[name] = cls
    return out


#: Wire name → event class, for every event of every aggregate.
EVENT_TYPES: dict[str, type[Any]] = _build()

#: Event class → wire name.
WIRE_NAMES: dict[type[Any], str] = {cls: name for name, cls in EVENT_TYPES.items()}
