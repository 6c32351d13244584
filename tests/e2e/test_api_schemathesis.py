"""schemathesis against the OpenAPI schema: no 5xx on any input, and nothing written on any 4xx.

Requests come from a principal holding every staff role in one agency, with a custodial key,
so that generated requests get past authentication and reach the domain rules and the ledger.
Both positive (schema-valid) and negative (schema-violating) inputs are generated for every
operation. Bounded: a fixed number of derandomized examples per operation and mode, well under
two minutes. (schemathesis' pytest plugin is not used: its lazy fixture loader does not run
under pytest 9; the strategies are driven with hypothesis directly.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from api.auth import Role
from tests.e2e.world import A0, ENT0, T, World

SQLITE_ONLY = True  # fuzzed once, on SQLite: the same app code runs on both stores
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 3}


@pytest.fixture(scope="module")
def fuzz(world: World) -> Iterator[tuple[World, str]]:
    from api.demo import enroll

    store = world.app.state.tokens
    if "fuzzer" not in world.tokens:
        store.add_principal("fuzzer", [Role.OFFICER, Role.AGENCY_HEAD, Role.LEGAL_REVIEWER, Role.PUBLISHER,
                                       Role.AUDITOR, Role.REGISTRAR], agency=A0, name="fuzzer")
        world.tokens["fuzzer"] = store.issue_token("fuzzer")
        enroll(world.container, [("fuzzer", "officer")], T("2025-01-02 09:00") + timedelta(minutes=1))
    yield world, world.tokens["fuzzer"]  # noqa: PT022 - a yield fixture, like its neighbours


def _check(w: World, token: str, case: schemathesis.Case, seen: dict[int, int]) -> None:
    before = w.footprint()
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    seen[response.status_code] = seen.get(response.status_code, 0) + 1
    assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.status_code,
                                        response.text[:500])
    if 400 <= response.status_code < 500:
        ctype = response.headers.get("content-type") or ""
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        assert ctype.startswith("application/problem+json"), response.text[:200]
        body = response.json()
        assert {"type", "title", "status", "detail", "code"} <= set(body)
        assert body["status"] == response.status_code
        assert w.footprint() == before, (case.method, case.formatted_path, response.status_code, body)


def test_no_input_gives_a_5xx_and_a_4xx_writes_nothing(fuzz: tuple[World, str]) -> None:
    w, token = fuzz
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", w.app)
    seen: dict[int, int] = {}
    mine = set(w.cases[f"uscc/{ENT0}"])
    targets = {"case_id": next(c for c in w.cases["withdrawn/0"] if c in mine), "agency_code": A0, "uscc": ENT0,
               "cert_no": "35010001"}
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 60
    for op in operations:
        for mode, n in EXAMPLES.items():
            if mode is GenerationMode.NEGATIVE and op.method.upper() == "GET" and "{" not in op.path and \
                    not list(op.iter_parameters()):
                continue  # nothing to make invalid
            # Positive cases aim at real entities so that they reach the domain rules and the ledger.
            real = {k: v for k, v in targets.items() if "{" + k + "}" in op.path}
            try:
                strategy = op.as_strategy(generation_mode=mode,
                                          path_parameters=real if mode is GenerationMode.POSITIVE and real else None)
            except Exception:  # noqa: BLE001 - an operation with nothing negative to generate
                continue

            @settings(max_examples=n, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
            @given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                _check(w, token, case, seen)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing invalid to send (no parameters)
    print("status counts:", dict(sorted(seen.items())))
    assert sum(v for k, v in seen.items() if k < 300) > 0
    assert sum(v for k, v in seen.items() if 400 <= k < 500) > 0
