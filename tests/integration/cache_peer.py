"""The other process of ``test_aggregate_cache.py``: opens the same ledger and runs one command.

    python -m tests.integration.cache_peer URL evidence CASE_ID EVIDENCE_ID AT
    python -m tests.integration.cache_peer URL suspend CERT_NO AT
    python -m tests.integration.cache_peer URL calendar AT

Prints ``ok`` once the command is committed.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from uuid import UUID

from api.bootstrap import bootstrap, domain_event_types
from api.settings import Settings
from tests.fakes import ROOT, TEST_TYPES, LocalSigner, StepClock, seeded_key
from tests.unit.projections.scenario import ACTORS, H


def main(argv: list[str]) -> int:
    url, cmd, *rest = argv
    signer = LocalSigner({"root": ROOT, **{a: seeded_key(a) for a in ACTORS}})
    c = bootstrap(Settings(db_url=url), signer=signer, clock=StepClock(),
                  event_types={**domain_event_types(), **TEST_TYPES})
    app = c.app
    at = datetime.fromisoformat(rest[-1])
    if cmd == "evidence":
        app.log_evidence(inspection_id=UUID(rest[0]), evidence_id=rest[1], evidence_type="书证", sha256=H, size=1,
                         media_type="image/jpeg", source="on_site", capture={}, cert_nos=["C1", "C2"], at=at,
                         actor="p1")
    elif cmd == "suspend":
        app.change_certificate_status(cert_no=rest[0], status="suspended", effective_at=at, reason="调离执法岗位",
                                      at=at, actor="reg")
    elif cmd == "calendar":  # the 2027 test year, corrected: two more holidays
        fixture = json.loads((Path(__file__).parent.parent / "fixtures" / "calendar-2027.TEST-DATA.json").read_text())
        year = {k: v for k, v in fixture.items() if not k.startswith("_")}
        year["holidays"] = [*year["holidays"], "2027-01-04", "2027-01-05"]
        app.enter_calendar_year(**year, reason="更正：1月4日、5日调休", at=at, actor="reg")
    else:
        raise SystemExit(f"unknown command {cmd}")
    c.engine.dispose()
    print("ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
