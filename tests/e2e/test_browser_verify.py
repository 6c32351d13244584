"""The verification page checks the records itself, in the reader's browser (issue 19 item 3).

Debian's Chromium under Playwright runs ``api/static/verify.js`` (WebCrypto SHA-256 and
Ed25519) on the page's embedded JSON block: an intact case verifies against the log key pinned in
the QR code; a response altered in flight (route interception) fails naming the first bad entry
and leaves the later ones "not checked"; a cosigned checkpoint (C2SP cosignature/v1, built here
with PyNaCl) verifies under a k-of-n witness policy; a saved copy of the page verifies from
``file://`` with the network cut. The server-side rendering names only the first failure too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

import pytest
from nacl.signing import SigningKey
from sqlalchemy import select, update

from api.browser_verify import SCRIPT_PATH, script_sha256
from domain.base import feedback_token
from ledger.checkpoint import parse_note, sign_note, vkey
from tests.e2e.browser import Page, chromium, chromium_path
from tests.e2e.world import DEMO_SECRET, World, serving

SQLITE_ONLY = True
ROOT = Path(__file__).resolve().parents[2]
DATA_RE = re.compile(r'(<script type="application/json" id="caseledger-data">)(.*?)(</script>)', re.DOTALL)


@pytest.fixture(scope="module")
def site(world: World) -> Iterator[tuple[World, str]]:
    assert chromium_path() is not None, "Debian's chromium is required (apt-get install -y chromium)"
    with serving(world.app) as base:
        yield world, base


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with chromium() as p:
        yield p


def log_vkey(w: World) -> str:
    c = w.container
    return vkey(c.settings.origin, bytes(c.ledger_key().verify_key))


def frag(k: str, witnesses: tuple[str, ...] = (), quorum: int = 0) -> str:
    out = "#k=" + quote(k, safe="+/=")
    out += "".join("&w=" + quote(x, safe="+/=") for x in witnesses)
    return out + (f"&q={quorum}" if quorum else "")


def enterprise_case(w: World) -> tuple[str, str]:
    """A case whose result was notified (so its feedback token opens the enterprise view). Other
    tests of the session may give feedback on it: an entry after the checkpoint, shown pending."""
    case = w.case_of("clean")
    return case, feedback_token(UUID(case), DEMO_SECRET)


def wait_verdict(page: Page) -> dict[str, Any]:
    page.pw.wait_for_function("() => !['waiting'].includes(document.querySelector('#bv-status').dataset.status)",
                              timeout=30_000)
    rows = page.eval("Array.from(document.querySelectorAll('#bv-entries tr')).map(r => "
                     "({n: +r.dataset.n, cls: r.className, text: r.innerText}))")
    return {"status": page.eval("document.querySelector('#bv-status').dataset.status"),
            "text": page.text("#bv-status"), "rows": rows, "report": page.eval("window.caseledgerReport")}


def altered(page: Page, change: Callable[[dict[str, Any]], None]) -> None:
    """Route every /v/ page through ``change`` of its JSON block (a response altered in flight)."""
    def handle(route: Any) -> None:
        resp = route.fetch()
        html = resp.text()
        m = DATA_RE.search(html)
        assert m is not None
        data = json.loads(m.group(2).replace("<\\/", "</"))
        change(data)
        body = html[:m.start(2)] + json.dumps(data, ensure_ascii=False).replace("</", "<\\/") + html[m.end(2):]
        route.fulfill(response=resp, body=body)

    page.pw.unroute("**/v/**")
    page.navigate("about:blank")  # (the same URL again would not reload the page)
    page.pw.route("**/v/**", handle)


def flip_b64(s: str, at: int = 40) -> str:
    raw = bytearray(base64.b64decode(s))
    raw[min(at, len(raw) - 1)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


# ----------------------------------------------------------------------------- the script's hash

def test_the_published_hash_of_the_script_is_the_files_and_the_page_shows_it(site: tuple[World, str]) -> None:
    w, _ = site
    digest = hashlib.sha256(SCRIPT_PATH.read_bytes()).hexdigest()
    assert script_sha256() == digest
    spec = (ROOT / "docs/spec/06-verification.md").read_text(encoding="utf-8")
    published = re.findall(r"`verify\.js` SHA-256: `([0-9a-f]{64})`", spec)
    assert published == [digest], "docs/spec/06-verification.md §8 must publish the script's SHA-256"
    html = w.client.get(f"/v/{w.case_of('published')}").text
    assert f'<code id="bv-script-sha256">{digest}</code>' in html
    assert f'<code id="verify-js-sha256">{digest}</code>' in w.client.get("/notices").text
    assert w.client.get("/static/verify.js").content == SCRIPT_PATH.read_bytes()
    assert "{{" not in SCRIPT_PATH.read_text(encoding="utf-8")  # one fixed file, no templating


# ----------------------------------------------------------------------------- intact cases

def test_an_intact_public_case_verifies_in_the_browser_against_the_key_in_the_qr_code(
        site: tuple[World, str], page: Page) -> None:
    w, base = site
    page.pw.unroute("**/v/**")
    case = w.case_of("published")
    page.navigate(f"{base}/v/{case}{frag(log_vkey(w))}")
    v = wait_verdict(page)
    assert v["status"] == "verified", v["text"]
    assert log_vkey(w) in v["text"]
    assert "二维码" in v["text"]
    assert v["rows"]
    assert {r["cls"] for r in v["rows"]} == {"bv-included"}
    assert [r["n"] for r in v["rows"]] == list(range(1, len(v["rows"]) + 1))
    html = w.client.get(f"/v/{case}").text
    assert "p-lin" not in html  # the public block is hash and position: no actor, no body (R49)


def test_the_url_in_the_printed_qr_code_opens_the_page_that_verifies_itself(site: tuple[World, str],
                                                                            page: Page) -> None:
    import io

    import zxingcpp
    from PIL import Image

    w, base = site
    page.pw.unroute("**/v/**")
    case = w.case_of("published")
    png = w.client.get(f"/v/{case}/qr.png").content
    (url,) = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
    assert url.startswith(f"{w.client.base_url}/v/{case}#k=")
    page.navigate("about:blank")
    page.navigate(base + url.removeprefix(str(w.client.base_url)))
    v = wait_verdict(page)
    assert v["status"] == "verified", v["text"]
    assert log_vkey(w) in v["text"]


def test_the_enterprise_with_its_token_checks_every_signature_and_link(site: tuple[World, str], page: Page) -> None:
    w, base = site
    page.pw.unroute("**/v/**")
    case, token = enterprise_case(w)
    page.navigate(f"{base}/v/{case}?token={token}{frag(log_vkey(w))}")
    v = wait_verdict(page)
    # (other tests of the session may add feedback to this case after the checkpoint: pending)
    assert v["status"] in {"verified", "partial"}, v["text"]
    assert {r["cls"] for r in v["rows"]} <= {"bv-verified", "bv-included", "bv-pending"}
    assert "bv-verified" in {r["cls"] for r in v["rows"]}
    # A wrong token is the public view.
    assert '"audience":"public"' in w.client.get(f"/v/{case}?token={'0' * 64}").text
    assert '"audience":"enterprise"' in w.client.get(f"/v/{case}?token={token}").text


def test_without_a_key_the_page_asks_for_one_and_a_typed_key_is_used(site: tuple[World, str], page: Page) -> None:
    w, base = site
    page.pw.unroute("**/v/**")
    case = w.case_of("published")
    page.navigate(f"{base}/v/{case}")
    assert wait_verdict(page)["status"] == "nokey"
    page.pw.fill("#bv-key", "not a key")
    page.pw.click("#bv-run")
    v = wait_verdict(page)
    assert v["status"] == "failed"
    assert "所给公钥无效" in v["text"]
    assert "公钥格式" in v["text"]
    wrong_id = log_vkey(w).split("+")
    page.pw.fill("#bv-key", "+".join([wrong_id[0], "00000000", *wrong_id[2:]]))
    page.pw.click("#bv-run")
    page.pw.wait_for_function("() => document.querySelector('#bv-status').innerText.includes('密钥 ID 与公钥不符')")
    other = vkey(w.container.settings.origin, bytes(SigningKey.generate().verify_key))
    page.pw.fill("#bv-key", other)
    page.pw.click("#bv-run")
    v = wait_verdict(page)
    assert v["status"] == "failed"
    assert "4.6" in v["text"]
    assert "手动输入" in v["text"]
    assert {r["cls"] for r in v["rows"]} == {"bv-unchecked"}
    page.pw.fill("#bv-key", log_vkey(w))
    page.pw.click("#bv-run")
    page.pw.wait_for_function("() => document.querySelector('#bv-status').dataset.status === 'verified'")


# ----------------------------------------------------------------------------- altered in flight

def test_a_flipped_byte_in_an_entry_fails_naming_that_entry_and_not_the_later_ones(
        site: tuple[World, str], page: Page) -> None:
    w, base = site
    case, token = enterprise_case(w)
    shown: list[int] = []

    def flip(d: dict[str, Any]) -> None:
        # The second entry the enterprise sees whole (entries with a W_ flag are hash and position).
        i = [k for k, e in enumerate(d["entries"]) if "entry" in e][1]
        assert i + 2 < len(d["entries"])
        d["entries"][i]["entry"] = flip_b64(d["entries"][i]["entry"], 60)
        shown.append(i)

    altered(page, flip)
    page.navigate(f"{base}/v/{case}?token={token}{frag(log_vkey(w))}")
    v = wait_verdict(page)
    i = shown[-1]
    assert v["status"] == "failed"
    assert f"第 {i + 1} 条记录" in v["text"]
    rows = v["rows"]
    assert {r["cls"] for r in rows[:i]} <= {"bv-verified", "bv-included"}
    assert rows[i]["cls"] == "bv-failed"
    assert {r["cls"] for r in rows[i + 1:]} == {"bv-unchecked"}
    assert all("在失败之后未检查" in r["text"] for r in rows[i + 1:])
    assert all(re.search(r"[\u4e00-\u9fff]", r["text"].split("\t")[1]) for r in rows[i + 1:])  # step names
    assert v["report"]["failure"]["n"] == i + 1


def test_a_wrong_inclusion_proof_fails_naming_the_entry(site: tuple[World, str], page: Page) -> None:
    w, base = site
    case = w.case_of("published")

    def wrong(d: dict[str, Any]) -> None:
        d["entries"][2]["proof"][0] = base64.b64encode(b"\x07" * 32).decode()

    altered(page, wrong)
    page.navigate(f"{base}/v/{case}{frag(log_vkey(w))}")
    v = wait_verdict(page)
    assert v["status"] == "failed"
    assert v["report"]["failure"]["n"] == 3
    assert v["report"]["failure"]["step"] == "3.5"
    assert "第 3 条记录" in v["text"]
    assert "包含证明" in v["text"]
    assert [r["cls"] for r in v["rows"][:3]] == ["bv-included", "bv-included", "bv-failed"]


def test_a_public_entrys_hash_altered_or_entries_swapped_fail_at_that_entry(site: tuple[World, str],
                                                                            page: Page) -> None:
    w, base = site
    case = w.case_of("published")

    def rehash(d: dict[str, Any]) -> None:
        d["entries"][3]["withheld"] = flip_b64(d["entries"][3]["withheld"], 5)

    altered(page, rehash)
    page.navigate(f"{base}/v/{case}{frag(log_vkey(w))}")
    v = wait_verdict(page)
    assert (v["status"], v["report"]["failure"]["n"], v["report"]["failure"]["step"]) == ("failed", 4, "3.5")
    case, token = enterprise_case(w)

    swapped: list[int] = []

    def swap(d: dict[str, Any]) -> None:  # two consecutive entries' bytes (and signatures) trade places
        e = d["entries"]
        i = next(k for k in range(len(e) - 1) if "entry" in e[k] and "entry" in e[k + 1])
        for f in ("entry", "sig"):
            e[i][f], e[i + 1][f] = e[i + 1][f], e[i][f]
        swapped.append(i)

    altered(page, swap)
    page.navigate(f"{base}/v/{case}?token={token}{frag(log_vkey(w))}")
    v = wait_verdict(page)
    assert v["status"] == "failed"
    assert (v["report"]["failure"]["n"], v["report"]["failure"]["step"]) == (swapped[0] + 1, "1.5")
    page.pw.unroute("**/v/**")


def test_an_entry_after_the_checkpoint_is_pending_and_still_chained(site: tuple[World, str], page: Page) -> None:
    w, base = site
    case, token = enterprise_case(w)

    def after_checkpoint(d: dict[str, Any]) -> None:
        d["entries"][-1]["proof"] = None  # as the page gives an entry recorded after the checkpoint

    altered(page, after_checkpoint)
    page.navigate(f"{base}/v/{case}?token={token}{frag(log_vkey(w))}")
    v = wait_verdict(page)
    assert v["status"] == "partial", v["text"]
    assert v["rows"][-1]["cls"] == "bv-pending"
    assert "其余记录晚于该检查点" in v["text"]
    page.pw.unroute("**/v/**")


def test_a_checkpoint_signed_by_another_key_fails(site: tuple[World, str], page: Page) -> None:
    w, base = site
    case, token = enterprise_case(w)
    origin = w.container.settings.origin

    def resign(d: dict[str, Any]) -> None:
        body = parse_note(d["checkpoint"]).body
        d["checkpoint"] = body + "\n" + sign_note(body, origin, SigningKey.generate()).line()

    altered(page, resign)
    page.navigate(f"{base}/v/{case}?token={token}{frag(log_vkey(w))}")
    v = wait_verdict(page)
    assert v["status"] == "failed"
    assert v["report"]["failure"]["step"] == "4.6"
    assert "检查点" in v["text"]
    assert {r["cls"] for r in v["rows"]} == {"bv-unchecked"}


# ----------------------------------------------------------------------------- witnesses

def cosign(note: str, name: str, key: SigningKey, when: int, signer: SigningKey | None = None) -> str:
    """A C2SP cosignature/v1 line over the note's checkpoint body (key type 0x04), by ``key``
    (or, to forge one, naming ``key`` but signed by ``signer``)."""
    body = parse_note(note).body
    msg = f"cosignature/v1\ntime {when}\n".encode() + body.encode()
    kid = hashlib.sha256(name.encode() + b"\n\x04" + bytes(key.verify_key)).digest()[:4]
    sig = (signer or key).sign(msg).signature
    return note + f"\u2014 {name} {base64.b64encode(kid + struct.pack('>Q', when) + sig).decode()}\n"


def witness_vkey(name: str, key: SigningKey) -> str:
    pub = bytes(key.verify_key)
    kid = hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4]
    key = base64.b64encode(b"\x04" + pub).decode()
    return f"{name}+{kid.hex()}+{key}"


def test_witness_cosignatures_are_checked_under_a_k_of_n_policy(site: tuple[World, str], page: Page) -> None:
    w, base = site
    case = w.case_of("published")
    wa, wb, wc = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    names = ("witness.a.example", "witness.b.example", "witness.c.example")
    keys = tuple(witness_vkey(n, k) for n, k in zip(names, (wa, wb, wc), strict=True))

    def cosigned(bad: bool = False) -> Callable[[dict[str, Any]], None]:
        def change(d: dict[str, Any]) -> None:
            note = cosign(d["checkpoint"], names[0], wa, 1_764_000_000)
            note = cosign(note, names[1], wb, 1_764_000_001, signer=wc if bad else None)
            d["checkpoint"] = note
        return change

    altered(page, cosigned())
    page.navigate(f"{base}/v/{case}{frag(log_vkey(w), keys, 2)}")
    v = wait_verdict(page)
    assert v["status"] == "verified", v["text"]
    assert "2 个见证联署" in v["text"]
    assert [c["name"] for c in v["report"]["cosigners"]] == list(names[:2])
    page.navigate("about:blank")  # (a new fragment alone would not reload the page)
    page.navigate(f"{base}/v/{case}{frag(log_vkey(w), keys, 3)}")  # 3 of 3 required, 2 given
    v = wait_verdict(page)
    assert (v["status"], v["report"]["failure"]["step"]) == ("failed", "4.7")
    altered(page, cosigned(bad=True))  # witness b's line signed by another key
    page.navigate("about:blank")
    page.navigate(f"{base}/v/{case}{frag(log_vkey(w), keys, 1)}")
    v = wait_verdict(page)
    assert (v["status"], v["report"]["failure"]["step"]) == ("failed", "4.7")
    assert "witness.b.example" in v["text"]
    page.pw.unroute("**/v/**")


# ----------------------------------------------------------------------------- offline

def test_a_saved_page_verifies_offline_from_file_urls(site: tuple[World, str], page: Page, tmp_path: Path) -> None:
    w, _ = site
    case, token = enterprise_case(w)
    html = w.client.get(f"/v/{case}?token={token}").text
    (tmp_path / "verify.js").write_bytes(w.client.get("/static/verify.js").content)
    (tmp_path / "page.html").write_text(html.replace('src="/static/verify.js"', 'src="verify.js"'), encoding="utf-8")
    ctx = page.pw.context.browser.new_context()  # type: ignore[union-attr]
    try:
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
        offline = Page(ctx.new_page())
        offline.navigate((tmp_path / "page.html").as_uri() + frag(log_vkey(w)))
        v = wait_verdict(offline)
        assert v["status"] in {"verified", "partial"}, v["text"]
        assert "bv-verified" in {r["cls"] for r in v["rows"]}
    finally:
        ctx.close()


# ----------------------------------------------------------------------------- the server's own page

def test_the_server_side_page_names_only_the_first_failure(site: tuple[World, str]) -> None:
    w, _ = site
    case = w.case_of("published", 1) if f"published/{1}" in w.cases else w.case_of("concluded")
    from ledger.audit import events_table

    events = events_table(w.container.engine)
    with w.container.engine.begin() as conn:
        rows = conn.execute(select(events.c.id, events.c.state, events.c.originator_version)
                            .where(events.c.originator_id == UUID(case))
                            .order_by(events.c.originator_version)).all()
        assert len(rows) >= 3
        target = rows[1]
        state = bytearray(bytes(target.state))
        state[-1] ^= 0x01  # the last byte of the signature
        conn.execute(update(events).where(events.c.id == target.id).values(state=bytes(state)))
    try:
        html = w.client.get(f"/v/{case}").text
    finally:
        with w.container.engine.begin() as conn:
            conn.execute(update(events).where(events.c.id == target.id).values(state=bytes(target.state)))
    body = html[html.index('id="entries"'):html.index("</table>", html.index('id="entries"'))]
    trs = re.findall(r'<tr class="entry-(\w+)">(.*?)</tr>', body, re.DOTALL)
    assert [s for s, _ in trs][:2] == ["verified", "failed"]
    assert {s for s, _ in trs[2:]} == {"unchecked"}
    assert "签名无效（步骤 1.4）" in trs[1][1]
    assert "step 1.5" not in html
    assert "步骤 1.5" not in html
    for _, cells in trs[2:]:
        assert "在失败之后未检查" in cells
        label = re.findall(r"<td>(.*?)</td>", cells)[1]
        assert re.search(r"[\u4e00-\u9fff]", label), cells  # the step's Chinese name
    assert "第 2 条记录" in html


# ----------------------------------------------------------------------------- the script's msgpack decoder

def _js_value(v: Any) -> Any:
    """A vector's value as the script's decoder gives it (bin as {"$bin": hex}, big ints as text)."""
    if isinstance(v, dict) and set(v) == {"$bin"}:
        return v
    if isinstance(v, dict):
        return {k: _js_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_js_value(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53 - 1:
        return str(v)
    return v


def test_the_scripts_msgpack_decoder_agrees_with_every_encoding_vector(site: tuple[World, str], page: Page) -> None:
    w, base = site
    page.pw.unroute("**/v/**")
    vectors = json.loads((ROOT / "docs/spec/vectors/encoding.json").read_text(encoding="utf-8"))["vectors"]
    page.navigate(f"{base}/v/{w.case_of('published')}")
    got = page.pw.evaluate("""(vs) => vs.map(v => {
        const b = new Uint8Array(v.hex.match(/../g) ? v.hex.match(/../g).map(h => parseInt(h, 16)) : []);
        const conv = x => x instanceof Uint8Array ? {$bin: Array.from(x, c => c.toString(16).padStart(2, '0')).join('')}
          : typeof x === 'bigint' ? x.toString() : Array.isArray(x) ? x.map(conv)
          : x !== null && typeof x === 'object'
            ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, conv(y)])) : x;
        try { return {ok: true, value: conv(caseledgerVerify.unpack(b))}; }
        catch (e) { return {ok: false, error: String(e.msg || e)}; }
    })""", [{"hex": v["hex"]} for v in vectors])
    assert len(got) == len(vectors) > 20
    proto = page.pw.evaluate("Object.keys(caseledgerVerify.unpack(new Uint8Array([0x81, 0xa9, "
                             "...Array.from('__proto__', c => c.charCodeAt(0)), 0x01])))")
    assert proto == ["__proto__"]  # an ordinary key, not the object's prototype
    for v, g in zip(vectors, got, strict=True):
        assert g["ok"] == v["valid"], (v["name"], g)
        if v["valid"]:
            assert g["value"] == _js_value(v["value"]), v["name"]


def test_the_page_embeds_the_checkpoint_with_the_witnesses_stored_cosignatures(site: tuple[World, str]) -> None:
    """The data block carries what /v1/log/checkpoint serves: the note and every stored cosignature
    line, so the reader's browser can apply a witness policy to the ledger's real cosignatures."""
    from ledger.checkpoint import cosign as cosign_body

    w, _ = site
    c = w.container
    with c.engine.connect() as conn:
        cp = c.merkle.latest_checkpoint(conn)
    assert cp is not None
    sig = cosign_body(parse_note(cp.note).body, "witness.test/page", SigningKey(b"\x09" * 32), 1_764_000_002)
    with c.engine.begin() as conn:
        c.merkle.add_cosignature(conn, cp.id, sig.name, sig.key_id, 1_764_000_002, sig.line(), c.app.clock())
    try:
        case, _ = enterprise_case(w)
        m = DATA_RE.search(w.client.get(f"/v/{case}").text)
        assert m is not None
        assert json.loads(m.group(2))["checkpoint"] == cp.note + sig.line()
    finally:
        with c.engine.begin() as conn:
            conn.execute(c.merkle.cosignatures.delete().where(c.merkle.cosignatures.c.checkpoint_id == cp.id))
