"""The event contract others rely on: wire names, actor, primitive field types,
ClassVars that are not fields, timestamps from ``at``, and replay."""

from __future__ import annotations

import dataclasses
import typing
from datetime import datetime
from uuid import uuid4

import pytest
from enforcement_world import T, World, assert_refused, replay

from domain.inspection import Inspection
from domain.registry import AGGREGATE_TYPES, EVENT_TYPES, WIRE_NAMES

BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}
PRIMITIVES = (str, int, bool, type(None), bytes)


def _check_value(value: object) -> None:
    if isinstance(value, PRIMITIVES):
        assert not isinstance(value, float)
        return
    if isinstance(value, list | tuple):
        for v in value:
            _check_value(v)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str)
            _check_value(v)
        return
    raise AssertionError(f"non-primitive event value {value!r} ({type(value).__name__})")


def test_every_event_class_has_a_unique_versioned_wire_name() -> None:
    assert len(EVENT_TYPES) == len(set(EVENT_TYPES.values())) == len(WIRE_NAMES)
    for name, cls in EVENT_TYPES.items():
        assert name == cls.TYPE
        prefix, _, version = name.rpartition(".")
        assert version.startswith("v")
        assert version[1:].isdigit()
        kind = {"reference": "reference_list"}.get(prefix.split(".")[0], prefix.split(".")[0])
        assert kind in AGGREGATE_TYPES, f"{name}: {kind!r} is not an aggregate wire name"
        assert cls.__qualname__.split(".")[0] == AGGREGATE_TYPES[kind].__name__, name


def test_every_event_defined_on_an_aggregate_is_registered() -> None:
    for agg in AGGREGATE_TYPES.values():
        for name, value in vars(agg).items():
            if isinstance(value, type) and name not in {"Event", "Created"} and hasattr(value, "mutate"):
                assert value in WIRE_NAMES, f"{agg.__name__}.{name} is not registered"


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_each_event_has_an_actor_field_and_type_is_not_a_field(name: str) -> None:
    cls = EVENT_TYPES[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert "actor" in fields
    assert "TYPE" not in fields
    hints = typing.get_type_hints(cls)
    for field_name in set(fields) - BASE_FIELDS:
        text = repr(hints[field_name])
        for forbidden in ("float", "datetime", "date", "UUID", "Decimal"):
            assert forbidden not in text.replace("tuple", ""), f"{name}.{field_name}: {text}"


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_each_event_can_be_constructed_from_its_fields(name: str) -> None:
    cls = EVENT_TYPES[name]
    kwargs: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        kwargs[f.name] = {"originator_id": uuid4(), "originator_version": 1, "timestamp": T("2025-01-01 00:00"),
                          "originator_topic": "x:y"}.get(f.name)
    event = cls(**kwargs)
    assert name == event.TYPE


def test_a_full_lifecycle_has_primitive_values_actors_and_timestamps_from_at(world: World) -> None:
    insp = world.given("published")
    events = world.history
    assert [type(e).TYPE for e in events][:2] == ["inspection.dispatched.v2", "inspection.approved.v1"]
    for e in events:
        for f in dataclasses.fields(e):
            if f.name in BASE_FIELDS:
                continue
            _check_value(getattr(e, f.name))
        assert e.actor
        assert isinstance(e.timestamp, datetime)
        assert e.timestamp.tzinfo is not None
    assert events[0].timestamp == T("2025-09-01 09:00")
    rebuilt = replay(events)
    assert isinstance(rebuilt, Inspection)
    assert rebuilt == insp


def test_replay_from_list_valued_events_reproduces_the_same_state(world: World) -> None:
    """Stores may hand tuples back as lists: apply bodies normalise them."""
    insp = world.given("published")
    relisted = []
    for e in world.history:
        values = {f.name: getattr(e, f.name) for f in dataclasses.fields(e)}
        for k, v in values.items():
            if isinstance(v, tuple):
                values[k] = list(v)
        relisted.append(type(e)(**values))
    assert replay(relisted) == insp


def test_evidence_logged_at_the_decision_instant_cannot_support_it(world: World) -> None:
    insp = world.given("reviewed")
    world.log(insp, "EV-2", at=T("2025-09-26 10:00"))
    insp.collect_events()
    assert_refused("E_EVIDENCE_AFTER_DECISION", lambda: world.decide(insp, at=T("2025-09-26 10:00"),
                                                                     evidence_refs=["EV-1", "EV-2"]), insp)


def test_history_recorded_before_issue_18_replays_under_its_v1_names(world: World) -> None:
    """A dispatch without a case source and an arrival without its team (the v1 shapes) replay."""
    insp = world.given("shown")
    old: list[object] = []
    for e in world.history:
        values = {f.name: getattr(e, f.name) for f in dataclasses.fields(e)}
        if isinstance(e, Inspection.DispatchedWithSource):
            values.pop("case_source")
            e = Inspection.Dispatched(**values)  # noqa: PLW2901 - rewritten as its v1 shape
        elif isinstance(e, Inspection.TeamArrived):
            values.pop("officers")
            e = Inspection.Arrived(**values)  # noqa: PLW2901
        old.append(e)
    assert [type(e).TYPE for e in old][:3] == ["inspection.dispatched.v1", "inspection.approved.v1",
                                               "inspection.arrived.v1"]
    rebuilt = replay(old)
    assert rebuilt.case_source is None
    assert rebuilt.arrival is not None
    assert "officers" not in rebuilt.arrival
    assert rebuilt.certs_shown == insp.certs_shown
