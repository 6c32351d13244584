"""The public pages in headless Chromium (Debian's package, driven by Playwright): the disclosure
page with search and paging, withdrawn notices with their reason, the verification page reached
from a notice, its QR code (decoded from a screenshot), and the enterprise feedback form."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from domain.base import feedback_token
from tests.e2e.browser import Page, chromium, chromium_path, dump_dom
from tests.e2e.world import DEMO_SECRET, World, serving

SQLITE_ONLY = True
IN_CI = os.environ.get("CI", "").lower() == "true"
# Outside CI a machine without Debian's chromium skips these; in CI (.ci/run installs it) that is a failure.
pytestmark = pytest.mark.skipif(chromium_path() is None and not IN_CI, reason="needs Debian's chromium package")


@pytest.fixture(scope="module")
def site(world: World) -> Iterator[tuple[World, str]]:
    if chromium_path() is None:
        pytest.fail("CI=true but Debian's chromium is not installed")
    with serving(world.app) as base:
        yield world, base


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with chromium() as p:
        yield p


def _all_notices(w: World) -> list[dict]:
    items = w.client.get("/v1/notices?limit=100").json()["items"]
    assert len(items) >= 7
    return items


def test_the_disclosure_page_is_chinese_utf8_and_pages_through_every_notice(site: tuple[World, str],
                                                                            page: Page) -> None:
    w, base = site
    expected = [n["case_id"] for n in _all_notices(w)]
    page.navigate(f"{base}/notices?size=3")
    assert page.eval("document.documentElement.lang") == "zh-CN"
    assert page.eval("document.characterSet") == "UTF-8"
    assert page.text("h1") == "行政处罚信息公示"
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert page.text("#page-no") == f"第 {pages} 页"
        seen += page.eval("Array.from(document.querySelectorAll('li.notice')).map(e => e.dataset.case)")
        if page.text("#next") is None:
            break
        page.click_and_wait("#next")
    assert seen == expected
    assert pages == (len(expected) + 2) // 3
    page.click_and_wait("#prev")
    assert page.text("#page-no") == f"第 {pages - 1} 页"
    back = page.eval("Array.from(document.querySelectorAll('li.notice')).map(e => e.dataset.case)")
    assert back == expected[(pages - 2) * 3:(pages - 1) * 3]


def test_withdrawn_notices_show_their_reason_and_no_content(site: tuple[World, str], page: Page) -> None:
    w, base = site
    withdrawn = [n for n in _all_notices(w) if n["status"] == "withdrawn"]
    assert any(n["withdrawal_reason"] == "原行政处罚决定已被行政复议撤销" for n in withdrawn)
    page.navigate(f"{base}/notices?size=50")
    for n in withdrawn:
        sel = f'li.notice[data-case="{n["case_id"]}"]'
        assert page.text(f"{sel} .status") == "已撤回"
        assert n["withdrawal_reason"]
        assert page.text(f"{sel} .withdrawn-reason") == f"撤回原因：{n['withdrawal_reason']}"
        assert page.text(f'{sel} dd[data-field="cf_sy"]') is None
    published = next(n for n in _all_notices(w) if n["status"] == "published")
    assert page.text(f'li.notice[data-case="{published["case_id"]}"] dd[data-field="cf_xdr_mc"]')
    assert "350102198001010011" not in page.eval("document.body.innerText")  # R49: never public


def test_search_filters_the_notices(site: tuple[World, str], page: Page) -> None:
    w, base = site
    target = next(n for n in _all_notices(w) if n["status"] == "published")
    name = target["fields"]["cf_xdr_mc"]
    page.navigate(f"{base}/notices")
    page.eval(f"document.querySelector('#q').value = {name!r}")
    page.click_and_wait("#search-btn")
    cards = page.eval("Array.from(document.querySelectorAll('li.notice')).map(e => e.dataset.case)")
    assert target["case_id"] in cards
    assert all(name in t for t in page.texts('li.notice:not(.withdrawn) dd[data-field="cf_xdr_mc"]'))
    page.navigate(f"{base}/notices?q=%E4%B8%8D%E5%AD%98%E5%9C%A8%E7%9A%84%E4%BC%81%E4%B8%9A")  # 不存在的企业
    assert page.text("#empty") == "没有符合条件的公示信息。"


def test_a_notice_leads_to_its_verification_page_whose_qr_code_encodes_that_page(site: tuple[World, str],
                                                                                  page: Page) -> None:
    import zxingcpp
    from PIL import Image

    w, base = site
    target = next(n for n in _all_notices(w) if n["status"] == "published")
    page.navigate(f"{base}/notices?size=50")
    page.click_and_wait(f'li.notice[data-case="{target["case_id"]}"] a.verify-link')
    url = f"{base}/v/{target['case_id']}"
    assert page.eval("location.href") == url
    assert page.eval("document.documentElement.lang") == "zh-CN"
    assert page.eval("document.querySelector('#verify-status').dataset.status") == "verified"
    assert "全部" in page.text("#verify-status")
    statuses = page.eval("Array.from(document.querySelectorAll('#entries tbody tr')).map(r => r.className)")
    assert statuses
    assert set(statuses) == {"entry-verified"}
    facts = page.text("#facts")
    assert target["fields"]["cf_xdr_mc"] in facts
    assert "p-lin" not in page.eval("document.body.innerText")  # no principal ids on the public page
    shot = page.screenshot("#qr", scale=2)
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))]
    # The page's URL, with the log's verifier key pinned in the fragment for the browser verifier.
    key = w.container.settings.origin + "+"
    assert len(decoded) == 1
    assert decoded[0].startswith(f"{url}#k={key}")
    png = page.eval("document.querySelector('#qr-png').src")
    assert png.startswith("data:image/png;base64,")


def test_the_enterprise_gives_feedback_with_its_token_once(site: tuple[World, str], page: Page) -> None:
    w, base = site
    case = w.cases["clean/0"][0]
    token = feedback_token(UUID(case), DEMO_SECRET)

    def ledger_count() -> int:
        rows = w.client.get("/v1/supervision/feedback", headers=w.h("auditor")).json()["ledger"]
        return sum(int(r["count"]) for r in rows if r["code"] == "2")

    before = ledger_count()
    page.navigate(f"{base}/v/{case}")
    page.eval("document.querySelector('#token').value = 'not-the-token'")
    page.click_and_wait("#feedback-submit")
    assert page.text("#feedback-error") == "评价令牌不正确。"
    page.navigate(f"{base}/v/{case}?token={token}")
    assert page.eval("document.querySelector('#token').value") == token
    page.eval("document.querySelector('input[name=rating][value=\"2\"]').checked = true")
    page.eval("document.querySelector('#prohibition_code').value = '2'")
    page.eval("document.querySelector('#comment').value = '检查时要求法定代表人必须到场'")
    page.click_and_wait("#feedback-submit")
    assert page.text("#feedback-ok") == "感谢您的评价，已记录。"
    page.navigate(f"{base}/v/{case}")
    assert page.text("#feedback-done") == "该次检查已收到评价。"
    assert page.eval("document.querySelector('#feedback-form')") is None
    counts = w.client.get("/v1/supervision/feedback", headers=w.h("auditor")).json()
    assert any(c.get("prohibition_code") == "2" for c in counts["submitted"])
    assert ledger_count() == before + 1  # a signed entry of the case, projected


def test_dump_dom_of_an_unknown_case_is_a_chinese_404_page(site: tuple[World, str]) -> None:
    _, base = site
    dom = dump_dom(f"{base}/v/00000000-0000-4000-8000-000000000000")
    assert 'lang="zh-CN"' in dom
    assert "未找到" in dom


# Each character drawn alone on a canvas in the element's own font, as pixels: a character the
# fonts cannot show is drawn as the same empty box (.notdef) as any other missing one.
_GLYPHS = """(sel) => {
  const font = getComputedStyle(document.querySelector(sel)).font;
  const chars = Array.from(new Set(Array.from(document.querySelector(sel).textContent.trim())));
  const draw = (ch) => {
    const c = document.createElement('canvas'); c.width = 64; c.height = 64;
    const g = c.getContext('2d'); g.font = font.replace(/\\d+(\\.\\d+)?px/, '40px');
    g.fillStyle = '#000'; g.textBaseline = 'top'; g.fillText(ch, 4, 4);
    return c.toDataURL();
  };
  return {chars: chars, images: chars.map(draw), missing: draw('\\u{10FFFD}')};
}"""


def test_the_notices_page_renders_its_chinese_text_with_real_glyphs(site: tuple[World, str], page: Page) -> None:
    _, base = site
    page.navigate(f"{base}/notices")
    got = page.pw.evaluate(_GLYPHS, "h1")
    assert len(got["chars"]) >= 6  # 行政处罚信息公示
    assert got["missing"] not in got["images"], "CJK characters render as missing glyphs (install fonts-wqy-microhei)"
    assert len(set(got["images"])) == len(got["chars"]), "distinct characters render alike: missing glyphs"


def test_the_api_docs_render_every_operation_with_the_network_cut(site: tuple[World, str], page: Page) -> None:
    w, base = site
    outside: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.pw.route("**/*", only_the_server)
    try:
        page.navigate(f"{base}/v1/docs")
        page.pw.wait_for_selector(".opblock", timeout=30_000)
        shown = page.pw.locator(".opblock").count()
    finally:
        page.pw.unroute("**/*")
    spec = w.client.get("/v1/openapi.json").json()
    operations = sum(1 for ops in spec["paths"].values() for m in ops if m in {"get", "post", "put", "delete"})
    assert outside == []  # not one request left the server
    assert shown == operations
    assert page.text(".info .title") is not None
    assert "CaseLedger API" in (page.text(".info .title") or "")
