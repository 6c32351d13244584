"""Test doubles: a tiny aggregate for ledger tests, fixed keys and a fixed clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate, event
from nacl.signing import SigningKey

from api.bootstrap import Container, bootstrap
from api.settings import Settings
from ledger.application import key_body
from ledger.codec import to_micros
from ledger.signers import LocalSigner

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
#: The ledger's clock in tests: after every ``occurred_at`` the tests write (the ledger refuses
#: entries dated more than a few minutes ahead of its clock, E_FUTURE_TIMESTAMP). Test aggregates
#: stamp their events with the wall time, so the clock never starts before it.
LEDGER_NOW = max(datetime(2027, 6, 1, tzinfo=UTC), datetime.now(UTC))
ROOT = SigningKey(bytes([1]) * 32)
ALICE = SigningKey(bytes([2]) * 32)
BOB = SigningKey(bytes([3]) * 32)
MALLORY = SigningKey(bytes([4]) * 32)  # never registered


class Ticket(Aggregate):
    class Opened(Aggregate.Created):
        TYPE: ClassVar[str] = "test.ticket_opened.v1"
        actor: str
        title: str

    @event(Opened)
    def __init__(self, actor: str, title: str) -> None:
        self.title = title
        self.notes: list[str] = []

    class Noted(Aggregate.Event):
        TYPE: ClassVar[str] = "test.ticket_noted.v1"
        actor: str
        text: str
        amount: int

    @event(Noted)
    def note(self, actor: str, text: str, amount: int) -> None:
        self.notes.append(text)


TEST_TYPES = {Ticket.Opened.TYPE: Ticket.Opened, Ticket.Noted.TYPE: Ticket.Noted}


class StepClock:
    """Deterministic µs clock that advances 1 ms per reading, from ``LEDGER_NOW`` by default."""

    def __init__(self, start: datetime = LEDGER_NOW) -> None:
        self.t = to_micros(start)

    def __call__(self) -> int:
        self.t += 1000
        return self.t


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def make_ledger(url: str, *, signer: LocalSigner | None = None, open_registry: bool = True) -> Container:
    """A ledger with root, alice and bob registered (custodial keys held in memory)."""
    signer = signer or LocalSigner({"root": ROOT, "alice": ALICE, "bob": BOB, "mallory": MALLORY})
    c = bootstrap(Settings(db_url=url), signer=signer, clock=StepClock(), event_types=TEST_TYPES)
    if open_registry:
        reg = c.app.open_ledger(ROOT, principal="root", at=T0)
        for name, sk in (("alice", ALICE), ("bob", BOB)):
            reg.register(actor="root", at=T0, key=key_body(sk, name, "officer", "custodial", to_micros(T0)))
        c.app.save(reg)
    return c


def seeded_key(actor: str) -> SigningKey:
    """A deterministic test key per principal."""
    import hashlib

    return SigningKey(hashlib.sha256(b"test-key:" + actor.encode()).digest())


def make_enforcement_ledger(url: str, actors: list[str]) -> Container:
    """A ledger with the domain's event types and a registered key for each actor."""
    from api.bootstrap import domain_event_types

    signer = LocalSigner({"root": ROOT, **{a: seeded_key(a) for a in actors}})
    c = bootstrap(Settings(db_url=url), signer=signer, clock=StepClock(),
                  event_types={**domain_event_types(), **TEST_TYPES})
    start = datetime(2024, 1, 1, tzinfo=UTC)
    reg = c.app.open_ledger(ROOT, principal="root", at=start)
    for a in actors:
        reg.register(actor="root", at=start, key=key_body(seeded_key(a), a, "officer", "custodial", to_micros(start)))
    c.app.save(reg)
    return c


def commit_unchecked(app: Any, *aggregates: Any) -> None:
    """Append the aggregates' pending events through the recorder, *below* the write path's checks
    (text policy, clock bounds): signed, chained and leafed exactly as ``LedgerApplication._record``
    would, so the entries verify. Stands for entries committed before a check existed."""
    from ledger.chain import expected_prev

    for agg in aggregates:
        for ev in agg.collect_events():
            case, n = str(ev.originator_id), ev.originator_version
            prev = expected_prev(case, n, None if n == 1 else app._head(case, n - 1))
            append_unchecked(app, app.codec.to_entry(ev, key=app.signer.key_for(ev.actor), prev=prev))


def append_unchecked(app: Any, entry: Any) -> None:
    """Sign ``entry`` (a ``ledger.chain.Entry``) with its actor's key and append it with its Merkle leaf,
    with none of the write path's checks: it verifies, whatever its body holds."""
    from eventsourcing.persistence import StoredEvent

    from ledger.chain import encode_entry, encode_record
    from ledger.hashing import KeyId, entry_hash

    data = encode_entry(entry, limits=app.limits)
    h = entry_hash(data)
    sig = app.signer.sign(KeyId(entry.key), h)
    app.recorder.insert_events([StoredEvent(originator_id=uuid.UUID(entry.case), originator_version=entry.n,
                                            topic=entry.type, state=encode_record(data, sig))],
                               leaf_inputs=[(h, sig)])
    app._heads[entry.case] = (entry.n, h)


def captured_saves(app: Any) -> list[Any]:
    """Make ``app.save`` collect the aggregates it is given instead of saving them (a command can then
    be run for the events it would append); ``del app.save`` restores it."""
    saved: list[Any] = []
    app.save = lambda *aggs, **_: saved.extend(aggs)
    return saved
