"""Bad input to commands, generated (issue 15): strings from all of Unicode (NUL, C0/C1 controls,
bidi controls, lone surrogates and the edges of the code space), integers at the edges of every
integer width, and instants at the edges of the calendar and of the server's clock.

For each command, one field of a valid body is replaced by a generated value. The command either
succeeds, and its case or register then reads back (the projections took the entry, on SQLite and
on PostgreSQL), or it fails with a 4xx problem+json and writes nothing. Never a 5xx.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.uscc import make_uscc
from tests.e2e.world import ENT0, T, World, dispatch_body

DAY = T("2025-06-02 09:00")
_ids = itertools.count()

EDGE_CHARS = ("\x00\x01\x08\t\n\x0b\x0d\x1f\x7f\x80\x85\x9f\u00ad\u061c\u200b\u200e\u200f\u202a\u202e\u2066\u2069"
              "\u2400\u3000\ud7ff\ud800\udbff\udc00\udfff\ue000\ufeff\ufffd\uffff\U00010000\U0010ffff")
#: All of Unicode, surrogates included, with the edges above drawn often.
TEXT = st.text(st.one_of(st.characters(exclude_categories=()), st.sampled_from(EDGE_CHARS)), max_size=24)
EDGE_INTS = [0, 1, -1, 2**7, 2**8, 2**15, 2**16, 2**31 - 1, 2**31, -(2**31) - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63,
             -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**30, -(10**30)]
INTS = st.one_of(st.sampled_from(EDGE_INTS), st.integers())


def instants() -> st.SearchStrategy[str]:
    now = datetime.now(UTC)
    fixed = ["0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00-05:00", "0001-01-01T07:59:59+08:00",
             "9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59.999999-14:00", "9999-12-31T20:00:00+08:00",
             "1899-12-31T23:59:59+08:00", "1900-01-01T00:00:00+00:00", "1969-12-31T23:59:59Z",
             "1970-01-01T00:00:00Z", "1999-12-31T23:59:59+00:00", "2038-01-19T03:14:08Z", "2199-12-31T23:59:59Z",
             "2200-01-01T00:00:00Z", "2999-12-31T23:59:59+14:00", "3000-01-01T00:00:00Z",
             (now + timedelta(minutes=4)).isoformat(), (now + timedelta(minutes=6)).isoformat(),
             (now + timedelta(days=400)).isoformat(), DAY.isoformat(), "2025-06-02T09:00:00", "2025-02-30T00:00Z"]
    return st.one_of(st.sampled_from(fixed),
                     st.datetimes(timezones=st.sampled_from([UTC, DAY.tzinfo])).map(lambda d: d.isoformat()))


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``body`` with the value at the dotted ``path`` (list indices as digits) replaced."""
    out: Any = {**body}
    node = out
    keys = path.split(".")
    for k in keys[:-1]:
        child = node[int(k)] if isinstance(node, list) else node[k]
        child = list(child) if isinstance(child, list) else {**child}
        if isinstance(node, list):
            node[int(k)] = child
        else:
            node[k] = child
        node = child
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return dict(out)


def check(w: World, who: str, path: str, body: dict[str, Any], read_back: Callable[[Any], str] | None) -> None:
    before = w.footprint()
    # json.dumps writes a lone surrogate as a \\u escape; httpx (json=) would fail to encode it.
    r = w.client.post(path, content=json.dumps(body).encode(), headers=w.h(who, **{"Content-Type": "application/json"}))
    assert r.status_code < 500, (path, body, r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.text[:200]
        assert r.json()["status"] == r.status_code
        assert w.footprint() == before, (path, body, r.json())
        return
    if read_back is not None:
        got = w.client.get(read_back(r.json()), headers=w.h("auditor"))
        assert got.status_code == 200, (body, got.status_code, got.text[:300])
    ready = w.client.get("/readyz")
    assert ready.status_code == 200, ready.text[:300]


PROPS = settings(max_examples=40, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@PROPS
@given(data=st.data())
def test_a_dispatch_with_any_text_or_instant_in_any_field_is_projected_or_refused_4xx(
        world: World, data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(["task_no", "inspection_type", "mode", "uscc", "assignments.0.agency_code",
                                       "assignments.0.item_codes.0", "assignments.0.cert_nos.0", "at"]))
    value = data.draw(instants() if field == "at" else st.one_of(TEXT, INTS.map(str)))
    body = _set(dispatch_body(f"PROP-D-{next(_ids)}", DAY), field, value)
    check(world, "p-lin", "/v1/cases", body, lambda j: f"/v1/cases/{j['case_id']}")


@PROPS
@given(data=st.data())
def test_an_arrival_with_any_location_scan_or_instant_is_projected_or_refused_4xx(
        world: World, data: st.DataObject) -> None:
    w = world
    r = w.client.post("/v1/cases", json=dispatch_body(f"PROP-A-{next(_ids)}", DAY), headers=w.h("p-lin"))
    assert r.status_code == 201, r.json()
    cid = r.json()["case_id"]
    assert w.client.post(f"/v1/cases/{cid}/approvals", json={"at": (DAY + timedelta(minutes=5)).isoformat()},
                         headers=w.h("head-sj")).status_code == 200
    arrive = DAY + timedelta(days=1)
    body = {"at": arrive.isoformat(), "location": "生产车间",
            "scan": {"code_id": "QR-PROP", "uscc": ENT0, "scanned_at": int(arrive.timestamp() * 1_000_000)}}
    field = data.draw(st.sampled_from(["location", "scan.code_id", "scan.uscc", "scan.scanned_at", "at"]))
    value = data.draw(instants() if field == "at" else INTS if field == "scan.scanned_at" else TEXT)
    check(w, "p-lin", f"/v1/cases/{cid}/arrival", _set(body, field, value), lambda _: f"/v1/cases/{cid}")


@PROPS
@given(data=st.data())
def test_a_registered_enterprise_with_any_text_or_instant_is_stored_or_refused_4xx(
        world: World, data: st.DataObject) -> None:
    uscc = make_uscc(f"91350100MA{next(_ids) % 10**7:07d}")
    body = {"at": DAY.isoformat(), "uscc": uscc, "name": "测试企业", "sector": "食品", "admin_division": "350102",
            "risk_class": "B", "positive_list": False}
    field = data.draw(st.sampled_from(["name", "sector", "admin_division", "risk_class", "uscc", "at",
                                       "positive_list"]))
    value = data.draw(instants() if field == "at" else st.one_of(INTS, st.booleans()) if field == "positive_list"
                      else TEXT)
    check(world, "registrar", "/v1/enterprises", _set(body, field, value), None)
