"""Time on both axes over HTTP: ``/history?occurred=`` beside ``?at=`` (recorded), and the
verification page's timeline showing when each step happened as well as when it was recorded."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from api.web import _fmt_us
from tests.e2e.world import World


def test_history_takes_either_clock_and_names_it(world: World) -> None:
    w = world
    case = w.case_of("published")
    whole = w.client.get(f"/v1/cases/{case}", headers=w.h("auditor")).json()
    third = whole["timeline"][2]["occurred_at"]
    when = datetime.fromtimestamp(third / 1e6, UTC).isoformat()
    r = w.client.get(f"/v1/cases/{case}/history", params={"occurred": when}, headers=w.h("auditor"))
    assert r.status_code == 200, r.text
    assert r.json()["as_of"]["basis"] == "occurred_at"
    assert r.json()["as_of"]["n"] < whole["last_n"]
    with w.writes_nothing():
        both = w.client.get(f"/v1/cases/{case}/history", params={"occurred": when, "at": when},
                            headers=w.h("auditor"))
        early = w.client.get(f"/v1/cases/{case}/history", params={"occurred": "2000-01-01T00:00:00Z"},
                             headers=w.h("auditor"))
    assert (both.status_code, both.json()["code"]) == (400, "E_BAD_AS_OF")
    assert (early.status_code, early.json()["code"]) == (400, "E_BAD_AS_OF")
    assert "occurred at" in early.json()["detail"]
    assert "recorded at" in early.json()["detail"]


def test_the_verification_page_shows_when_each_step_happened_and_was_recorded(world: World) -> None:
    w = world
    case = w.case_of("published")
    page = w.client.get(f"/v/{case}")
    assert page.status_code == 200
    assert "<th title" in page.text
    assert "发生时间" in page.text
    assert "记录时间" in page.text
    whole = w.client.get(f"/v1/cases/{case}", headers=w.h("auditor")).json()
    occurred = re.findall(r'<td class="occurred">([^<]*)</td>', page.text)
    recorded = re.findall(r'<td class="recorded">([^<]*)</td>', page.text)
    assert len(occurred) == len(recorded) == whole["last_n"]
    assert occurred[0] == _fmt_us(whole["timeline"][0]["occurred_at"])
    assert recorded[0] == _fmt_us(whole["timeline"][0]["recorded_at"])
