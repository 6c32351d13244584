"""Step 2.1 (time): a new entry's occurred_at against the ledger's own clock (never the wall clock)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ledger.errors import TimestampInvalid
from ledger.hashing import key_id
from tests.fakes import ALICE, Ticket, make_ledger


def ticket_at(when: datetime) -> Ticket:
    t = Ticket(actor="alice", title="x")
    t.note(actor="alice", text="y", amount=1)
    for ev in t._pending_events:
        object.__setattr__(ev, "timestamp", when)
    return t


def test_an_entry_within_the_skew_is_appended_and_one_beyond_it_is_refused_with_nothing_written(
        tmp_path: Path) -> None:
    c = make_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    now = datetime.fromtimestamp(c.app.clock() / 1e6).astimezone()
    c.app.save(ticket_at(now + timedelta(minutes=4)))
    size = c.app.recorder.max_notification_id()
    for when, code in ((now + timedelta(minutes=6), "E_FUTURE_TIMESTAMP"),
                       (datetime(2200, 1, 1).astimezone(), "E_TIMESTAMP_RANGE"),
                       (datetime(1999, 12, 31, 23).astimezone(), "E_TIMESTAMP_RANGE")):
        with pytest.raises(TimestampInvalid) as ei:
            c.app.save(ticket_at(when))
        assert ei.value.code == code
        with pytest.raises(TimestampInvalid):  # client-signed mode refuses before anything is signed
            c.app.preview(ticket_at(when), key=key_id(bytes(ALICE.verify_key)))
    assert c.app.recorder.max_notification_id() == size
