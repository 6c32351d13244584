"""Browser verifier benchmark: time for ``api/static/verify.js`` to verify a 40-entry case in Chromium.

    python -m bench.bench_browser_verify                   # 100,000 other leaves, SQLite file
    python -m bench.bench_browser_verify --leaves 1000000

Setup as ``bench.bench_bundle``: a ledger (tests.fakes.make_ledger: root, alice, bob registered)
whose Merkle log holds ``--leaves`` other leaves, with the case's 40 entries spread evenly through
it (full-length inclusion proofs) and a signed checkpoint. The case's court bundle is turned into
the verification page's JSON block (the enterprise view: every entry's bytes, the key-registry
entries, every inclusion proof), written beside a copy of ``verify.js`` as a saved page, and
opened from ``file://`` in Debian's headless Chromium (Playwright, network cut).

Measured, in the same run:
* ``first``: from navigation to the page's verdict (script parse, key import, every check, the
  table drawn), once per fresh page, median of ``--loads``;
* ``verifyPage``: the checks alone, called again in the loaded page (``performance.now()``),
  median of ``--runs``;
* the same case checked in Python by ``ledger.bundle.verify_bundle`` (in process), median of
  ``--runs``: the ratio browser / Python.

Results are printed and written to ``bench/out/browser-verify-<leaves>.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_bundle import BATCH, ORIGIN, filler, log, median_ms
from bench.common import write_result
from ledger import encoding
from ledger.bundle import verify_bundle
from ledger.bundle_export import export_bundle, issue_checkpoint
from ledger.checkpoint import vkey
from tests.fakes import ROOT, StepClock, Ticket, make_ledger

CASE_ENTRIES = 40
SCRIPT = Path(__file__).resolve().parents[1] / "api" / "static" / "verify.js"


def build(url: str, leaves: int) -> tuple[Any, str]:
    c = make_ledger(url)
    case = Ticket(actor="alice", title="bench case")
    c.app.save(case)
    per_gap = leaves // (CASE_ENTRIES - 1)
    done = 0
    for k in range(1, CASE_ENTRIES):
        target = leaves if k == CASE_ENTRIES - 1 else k * per_gap
        while done < target:
            n = min(BATCH, target - done)
            with c.engine.begin() as conn:
                c.merkle.append(conn, filler(conn, done, n))
            done += n
        case.note(actor="alice" if k % 2 else "bob", text=f"step {k}", amount=k)
        c.app.save(case)
    return c, str(case.id)


def page_json(bundle: bytes) -> dict[str, Any]:
    """The verification page's block (api/browser_verify.py, enterprise view) from a court bundle."""
    b = encoding.decode(bundle, max_bytes=len(bundle))

    def item(n: int, it: dict[str, Any]) -> dict[str, Any]:
        rec = it["record"]
        return {"n": n, "entry": base64.b64encode(rec["entry"]).decode(), "sig": base64.b64encode(rec["sig"]).decode(),
                "index": it["leaf"]["index"], "recorded_at": it["leaf"]["recorded_at"],
                "proof": [base64.b64encode(h).decode() for h in it["proof"]], "label": f"step {n}"}

    return {"format": "caseledger-page", "v": 1, "case": b["case"], "audience": "enterprise",
            "checkpoint": b["checkpoint"], "server_key": None,
            "entries": [item(n, it) for n, it in enumerate(b["entries"], start=1)],
            "keys": [item(n, it) for n, it in enumerate(b["keys"], start=1)]}


PAGE = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>bench</title></head><body>
<input id="bv-key"><textarea id="bv-witnesses"></textarea><input id="bv-quorum" value="0">
<button id="bv-run">run</button><p id="bv-status" data-status="waiting"></p>
<table id="bv-table" hidden><tbody id="bv-entries"></tbody></table>
<script type="application/json" id="caseledger-data">{data}</script>
<script>window.t0 = performance.now();</script><script src="verify.js"></script></body></html>"""


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    from tests.e2e.browser import FLAGS, chromium_path

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--leaves", type=int, default=100_000, help="other leaves in the log (default 100,000)")
    p.add_argument("--runs", type=int, default=21)
    p.add_argument("--loads", type=int, default=7)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        log(f"building a ledger with {args.leaves:,} other leaves and a {CASE_ENTRIES}-entry case")
        c, case_id = build(f"sqlite:///{d / 'bench.db'}", args.leaves)
        cp = issue_checkpoint(c, origin=ORIGIN, signing_key=ROOT, clock=StepClock())
        key = vkey(ORIGIN, bytes(ROOT.verify_key))
        bundle = export_bundle(c, case_id).data
        c.engine.dispose()
        data = page_json(bundle)
        assert len(data["entries"]) == CASE_ENTRIES
        (d / "page.html").write_text(PAGE.format(data=json.dumps(data).replace("</", "<\\/")), encoding="utf-8")
        shutil.copy(SCRIPT, d / "verify.js")
        url = (d / "page.html").as_uri() + "#k=" + key
        py_ms, _ = median_ms(lambda: verify_bundle(bundle, [key]), args.runs)
        exe = chromium_path()
        assert exe is not None, "Debian's chromium is required"
        firsts: list[float] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, headless=True, args=FLAGS)
            ctx = browser.new_context()
            ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
            for _ in range(args.loads + 1):
                page = ctx.new_page()
                page.goto(url)
                page.wait_for_function("() => window.caseledgerReport !== undefined", timeout=60_000)
                rep = page.evaluate("window.caseledgerReport")
                assert rep["status"] == "verified", rep
                firsts.append(page.evaluate("window.caseledgerReport.doneAt - window.t0"))
                page.close()
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_function("() => window.caseledgerReport !== undefined", timeout=60_000)
            xs = page.evaluate("""async ([runs, key]) => {
                const data = JSON.parse(document.getElementById('caseledger-data').textContent), out = [];
                await caseledgerVerify.verifyPage(data, key, [], 0);
                for (let i = 0; i < runs; i++) {
                  const t = performance.now();
                  const r = await caseledgerVerify.verifyPage(data, key, [], 0);
                  if (r.status !== 'verified') throw new Error('not verified');
                  out.push(performance.now() - t);
                }
                return out;
            }""", [args.runs, key])
            version = browser.version
            browser.close()
    first_ms = statistics.median(firsts[1:])  # the first load also warms Chromium's own caches
    verify_ms = statistics.median(xs)
    result = {"case_entries": CASE_ENTRIES, "key_registry_entries": len(data["keys"]), "leaves_in_log": cp.size,
              "other_leaves": args.leaves, "chromium": version, "page_block_bytes": len(json.dumps(data)),
              "first_verdict_ms_median": round(first_ms, 1), "verify_page_ms_median": round(verify_ms, 1),
              "verify_page_ms_min": round(min(xs), 1), "verify_page_ms_max": round(max(xs), 1),
              "python_verify_bundle_ms_median": round(py_ms, 2),
              "ratio_browser_to_python": round(verify_ms / py_ms, 2), "runs": args.runs, "loads": args.loads}
    path = write_result(f"browser-verify-{args.leaves}", result)
    print(f"{CASE_ENTRIES}-entry case + {len(data['keys'])} key entries in a log of {cp.size:,} leaves, "
          f"Chromium {version}")
    print(f"  page load to verdict (verify.js)   median {first_ms:8.1f} ms over {args.loads} loads")
    print(f"  verifyPage alone                   median {verify_ms:8.1f} ms over {args.runs} runs "
          f"(min {min(xs):.1f}, max {max(xs):.1f})")
    print(f"  verify_bundle (Python, in process) median {py_ms:8.2f} ms  ratio {verify_ms / py_ms:.1f}x")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    t = time.perf_counter()
    rc = main()
    log(f"done in {time.perf_counter() - t:.0f}s")
    sys.exit(rc)
