"""Connection pools sized for the work (issue 16, item 4): settings, their refusals, the engine's pool."""

from __future__ import annotations

import pytest

from api.bootstrap import bootstrap
from api.settings import Settings
from ledger.errors import UsageError


def test_the_pool_follows_the_threads_unless_set() -> None:
    s = Settings.from_env({})
    assert (s.threads, s.pool_size, s.db_max_overflow) == (16, 20, 4)
    s = Settings.from_env({"CASELEDGER_THREADS": "8"})
    assert s.pool_size == 12
    s = Settings.from_env({"CASELEDGER_THREADS": "8", "CASELEDGER_DB_POOL_SIZE": "30",
                           "CASELEDGER_DB_MAX_OVERFLOW": "0"})
    assert (s.pool_size, s.db_max_overflow) == (30, 0)


@pytest.mark.parametrize("env", [{"CASELEDGER_THREADS": "many"}, {"CASELEDGER_DB_POOL_SIZE": "-3"},
                                 {"CASELEDGER_THREADS": "0"}, {"CASELEDGER_DB_POOL_SIZE": "0"},
                                 {"CASELEDGER_DB_MAX_OVERFLOW": "1.5"}])
def test_bad_pool_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        Settings.from_env(env)


def test_the_engine_has_the_configured_pool(db_url: str) -> None:
    c = bootstrap(Settings(db_url=db_url, threads=6, db_max_overflow=2))
    try:
        if c.engine.dialect.name == "postgresql":
            assert c.engine.pool.size() == 10  # type: ignore[attr-defined]
            assert c.engine.pool._max_overflow == 2  # type: ignore[attr-defined]
        else:  # SQLite keeps SQLAlchemy's own pool for a file database
            assert c.engine.pool.size() == 5  # type: ignore[attr-defined]
    finally:
        c.engine.dispose()


def test_writers_default_to_half_the_threads_and_bad_values_are_refused() -> None:
    assert Settings.from_env({}).write_slots == 8
    assert Settings.from_env({"CASELEDGER_THREADS": "1"}).write_slots == 1
    assert Settings.from_env({"CASELEDGER_WRITERS": "3"}).write_slots == 3
    for bad in ("0", "two", "-1"):
        with pytest.raises(UsageError):
            Settings.from_env({"CASELEDGER_WRITERS": bad})


def test_the_write_gate_bounds_writers_and_never_holds_up_reads() -> None:
    """Through real HTTP requests: with one write slot, a second write waits while a read goes through."""
    import asyncio

    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from api.guard import WriteGate

    release = asyncio.Event()
    running: list[str] = []

    async def write(request) -> PlainTextResponse:
        running.append(request.query_params["n"])
        await release.wait()
        return PlainTextResponse("written")

    async def read(_request) -> PlainTextResponse:
        return PlainTextResponse("read")

    inner = Starlette(routes=[Route("/w", write, methods=["POST"]), Route("/r", read)])
    app = WriteGate(inner, writers=1)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            first = asyncio.create_task(http.post("/w?n=1"))
            second = asyncio.create_task(http.post("/w?n=2"))
            await asyncio.sleep(0.2)
            assert running == ["1"]  # the second writer waits at the gate
            assert (await asyncio.wait_for(http.get("/r"), 5)).text == "read"  # a read is not held up
            release.set()
            assert [(await first).text, (await second).text] == ["written", "written"]
            assert running == ["1", "2"]

    asyncio.run(scenario())
