"""Server-rendered public pages (Jinja2, Chinese UI; the only script is the browser verifier).

* ``/notices`` — the public disclosure page (行政执法公示): notices with search, agency filter and
  cursor paging; withdrawn notices are shown with their public reason and no content.
* ``/v/{case_id}`` — the per-inspection verification page reached from the 行政行为码 QR code:
  the inspection's public facts, whether each of its entries verifies against the latest signed
  checkpoint (signature, chain, and an RFC 9162 inclusion proof checked by the pure verifier),
  and the enterprise feedback form (R21). The page also carries the records' exact bytes and
  ``/static/verify.js``, which checks them again in the reader's browser against the log key
  pinned in the QR code (api/browser_verify.py, spec 06 §8).
* ``/v/{case_id}/qr.svg`` and ``qr.png`` — the QR code (segno) that leads to that page, with the
  log's verifier key in the URL fragment (``#k=…``), which the browser never sends to the server.
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import select

from api.deps import Services, ServicesDep, case_scope, parse_case_id
from api.errors import ApiError, problem_for
from api.guard import client_address
from projections.visibility import Audience, case_file_for, entry_visible

if TYPE_CHECKING:
    from uuid import UUID

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

#: Chinese labels of the 信用中国 columns and the ledger's own fields.
FIELD_LABELS: dict[str, str] = {
    "cf_xdr_mc": "行政相对人名称", "cf_xdr_lb": "行政相对人类别", "cf_xdr_shxym": "统一社会信用代码",
    "cf_xdr_gszc": "工商注册号", "cf_xdr_zzjg": "组织机构代码", "cf_xdr_swdj": "税务登记号",
    "cf_xdr_sydw": "事业单位证书号", "cf_xdr_shzz": "社会组织登记证号", "cf_frdb": "法定代表人",
    "cf_wsh": "行政处罚决定书文号", "cf_wfxw": "违法行为类型", "cf_sy": "违法事实", "cf_yj": "处罚依据",
    "cf_cflb": "处罚类别", "cf_nr": "处罚内容", "cf_nr_fk": "罚款金额（万元）", "cf_nr_wfff": "没收违法所得（万元）",
    "cf_nr_zkdx": "暂扣或吊销证照名称及编号", "cf_jdrq": "处罚决定日期", "cf_yxq": "处罚有效期",
    "cf_gsjzq": "公示截止期", "cf_cfjg": "处罚机关", "cf_cfjgdm": "处罚机关统一社会信用代码",
    "cf_sjly": "数据来源单位", "cf_sjlydm": "数据来源单位统一社会信用代码", "bz": "备注",
    "cf_fr": "法定代表人",
}
FACT_LABELS: dict[str, str] = {
    "case_id": "案卷编号", "behaviour_code": "行政行为码", "task_no": "检查任务编号", "lead_agency": "实施主体",
    "lead_agency_name": "实施主体名称", "agency_name": "实施主体名称", "inspection_type": "检查类别",
    "mode": "检查方式", "year": "年度", "status": "状态", "stage": "阶段", "enterprise": "被检查企业",
    "enterprise_name": "被检查企业", "uscc": "统一社会信用代码", "dispatched_at": "派单时间",
    "dispatched_day": "派单日期", "approved": "已审批", "arrived_at": "到达时间", "arrived_day": "到达日期",
    "concluded_at": "结束时间", "concluded_day": "结束日期", "result": "检查结果", "officer_count": "执法人员人数",
    "certificates_shown": "出示执法证", "items": "检查事项", "item_codes": "检查事项", "notified": "已告知结果",
    "notified_day": "告知日期", "result_notified": "已告知结果", "frequency": "年度检查次数",
    "agency": "实施主体", "cancelled": "已取消", "result_notified_day": "结果告知日期", "case_filed": "已立案",
    "decided_day": "决定日期", "publication_status": "公示状态", "flag_codes": "提示标记",
}
VALUE_LABELS: dict[str, str] = {
    "routine": "日常检查", "case": "个案检查", "special": "专项检查", "on_site": "现场检查",
    "off_site": "非现场检查", "no_issue": "未发现问题", "rectification_ordered": "责令整改",
    "case_filed": "立案调查", "referral": "移送", "published": "公示中", "withdrawn": "已撤回",
    "corrected": "已更正", "expired": "公示期满", "True": "是", "False": "否",
}
#: The type shown for an entry the visibility policy withholds from the page's reader.
WITHHELD = "withheld"
ENTRY_LABELS: dict[str, str] = {
    "inspection.dispatched.v1": "派单", "inspection.dispatched.v2": "派单",
    "inspection.approved.v1": "审批", "inspection.mode_changed.v1": "变更检查方式",
    "inspection.team_changed.v1": "变更执法人员",
    "inspection.cancelled.v1": "取消", "inspection.arrived.v1": "到达现场（扫码）",
    "inspection.arrived.v2": "到达现场（扫码、核验执法证）",
    "inspection.certificate_shown.v1": "出示执法证", "inspection.evidence_logged.v1": "证据登记",
    "inspection.record_signed.v1": "笔录签署", "inspection.concluded.v1": "检查结束",
    "inspection.result_notified.v1": "告知结果", "inspection.feedback_received.v1": "企业评价",
    "inspection.case_filed.v1": "立案",
    "inspection.legal_review_given.v1": "法制审核", "inspection.education_recorded.v1": "教育",
    "inspection.decided.v1": "作出决定", "inspection.served.v1": "送达", "inspection.published.v1": "公示",
    "inspection.decision_altered.v1": "决定变更/撤销", "inspection.publication_withdrawn.v1": "撤回公示",
    "inspection.publication_corrected.v1": "更正公示", "inspection.violation_recorded.v1": "违法事实认定",
    "inspection.penalty_notice_served.v1": "行政处罚事先告知", "inspection.statement_heard.v1": "陈述申辩",
    "inspection.rights_waived.v1": "放弃陈述申辩/听证", "inspection.hearing_requested.v1": "申请听证",
    "inspection.hearing_scheduled.v1": "听证通知", "inspection.hearing_held.v1": "举行听证",
    "inspection.collective_discussion_held.v1": "集体讨论", "inspection.decision_extension_approved.v1": "延长办案期限",
    "inspection.decision_document_issued.v1": "制发决定书", "inspection.simple_decision_filed.v1": "简易程序备案",
    "inspection.fine_paid.v1": "缴纳罚款", "inspection.recusal_requested.v1": "申请回避",
    "inspection.recusal_decided.v1": "回避决定", "inspection.evidence_preserved.v1": "先行登记保存",
    "inspection.preservation_decided.v1": "保存物品处理决定",
    "inspection.device_record_reviewed.v1": "电子技术监控记录审核",
    "inspection.publication_period_set.v1": "确定公示期限", "inspection.publication_expired.v1": "公示期满",
    "inspection.credit_repair_approved.v1": "信用修复", "inspection.overdue_recorded.v1": "逾期记录",
    "inspection.case_closed.v1": "结案",
    WITHHELD: "不公开的内部记录（仅核验哈希与位置）",
}
#: Facts never shown on the public page even if a projection offers them (R49: personal data).
HIDDEN_FACTS = frozenset({"officers", "actors", "person_ids", "cert_nos", "recipient", "qr_id", "timeline",
                          "cf_fr_zjhm", "cf_xdr_zjhm", "cf_fr_zjlx", "cf_xdr_zjlx"})


def _label(value: object) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (list, tuple)):
        return "、".join(_label(v) for v in value)
    if isinstance(value, dict):
        return "；".join(f"{k}：{_label(v)}" for k, v in value.items())
    s = "" if value is None else str(value)
    return VALUE_LABELS.get(s, s)


def _fmt_us(us: object) -> str:
    from domain.calendar import SHANGHAI  # noqa: PLC0415
    from ledger.codec import from_micros  # noqa: PLC0415

    if not isinstance(us, int):
        return _label(us)
    return from_micros(us).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


templates.env.filters["label"] = _label
templates.env.filters["when"] = _fmt_us
templates.env.globals["FIELD_LABELS"] = FIELD_LABELS
templates.env.globals["FACT_LABELS"] = FACT_LABELS
templates.env.globals["ENTRY_LABELS"] = ENTRY_LABELS
templates.env.globals["VERIFY_JS_SHA256"] = hashlib.sha256((HERE / "static" / "verify.js").read_bytes()).hexdigest()


def _html(request: Request, name: str, ctx: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, ctx, status_code=status_code,
                                      headers={"Content-Language": "zh-CN"})


def _error_page(request: Request, exc: Exception) -> HTMLResponse:
    return _problem_page(request, problem_for(exc))


def _problem_page(request: Request, resp: Response) -> HTMLResponse:
    """The HTML error page for a problem+json answer (api/errors.py maps; this only renders)."""
    import json  # noqa: PLC0415

    body = json.loads(bytes(resp.body))
    return _html(request, "error.html", {"problem": body}, status_code=resp.status_code)


# ----------------------------------------------------------------------------- notices

def _notice_fields(item: dict[str, Any]) -> list[tuple[str, str, str]]:
    fields = item.get("fields")
    if not isinstance(fields, dict):
        fields = {k: v for k, v in item.items() if k.startswith("cf_") or k == "bz"}
    return [(k, FIELD_LABELS.get(k, k), _label(v)) for k, v in fields.items() if v not in (None, "")]


@router.get("/", response_class=RedirectResponse)
def root() -> RedirectResponse:
    return RedirectResponse("/notices", status_code=307)


@router.get("/notices", response_class=HTMLResponse)
def notices_page(
    request: Request, services: ServicesDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    back: Annotated[str | None, Query(max_length=8192)] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    size: Annotated[int, Query(ge=1, le=50)] = 10,
) -> HTMLResponse:
    try:
        items, nxt = services.projections.public_notices(q=q or None, agency=agency or None, cursor=cursor or None,
                                                         limit=size)
    except Exception as e:  # noqa: BLE001 - shown as an error page
        return _error_page(request, e)
    base: dict[str, Any] = {k: v for k, v in (("q", q), ("agency", agency)) if v}
    if size != 10:  # noqa: PLR2004
        base["size"] = size
    trail = [c for c in (back or "").split(" ") if c][-50:]
    next_url = prev_url = None
    if nxt:
        nb = [*trail, cursor or "-"]
        next_url = "/notices?" + urlencode({**base, "cursor": nxt, "back": " ".join(nb), "page": page + 1})
    if page > 1:
        prev_cursor = trail[-1] if trail else "-"
        pq: dict[str, Any] = {**base, "page": page - 1}
        if prev_cursor != "-":
            pq["cursor"] = prev_cursor
        if trail[:-1]:
            pq["back"] = " ".join(trail[:-1])
        prev_url = "/notices?" + urlencode(pq)
    rows = [{"item": it, "fields": _notice_fields(it)} for it in items]
    return _html(request, "notices.html", {"rows": rows, "q": q or "", "agency": agency or "", "page": page,
                                           "size": size,
                                           "next_url": next_url, "prev_url": prev_url})


# ----------------------------------------------------------------------------- verification

#: What a later entry of a case shows once an earlier one failed (spec 06 §1: one broken entry
#: breaks every later link, so nothing after it is judged).
NOT_CHECKED = "在失败之后未检查"
#: Spec 06 step -> what failed, in Chinese, for the verification page.
STEP_TEXT: dict[str, str] = {
    "1.1": "存储的记录格式不正确", "1.2": "记录不是规范编码或格式不正确", "1.3": "记录不在其声明的位置",
    "1.4": "签名无效", "1.5": "记录编号不连续", "1.6": "与上一条记录的链接（prev）不符",
    "1.7": "签名密钥未登记给该执法人员或不在有效期内",
    "3.1": "日志位置超出检查点", "3.2": "叶哈希长度不正确", "3.3": "包含证明的哈希不正确",
    "3.4": "包含证明长度不符", "3.5": "包含证明与检查点根哈希不符",
}


def failure_text(step: str) -> str:
    """The Chinese text of a failed step: what failed, then the step id (spec 06)."""
    return f"{STEP_TEXT.get(step, '核验未通过')}（步骤 {step}）"


@dataclass
class EntryCheck:
    n: int
    type: str
    recorded_at: int
    leaf_index: int
    status: str  #: verified | pending | failed | unchecked (after an earlier failure)
    detail: str = ""
    #: When the step happened, as its actor asserts (``occurred_at``); ``recorded_at`` is the ledger's clock.
    occurred_at: int | None = None


@dataclass
class CaseVerification:
    status: str  #: verified | partial | failed | no_checkpoint | untrusted
    checkpoint_size: int | None = None
    checkpoint_signers: tuple[str, ...] = ()
    entries: list[EntryCheck] = field(default_factory=list)
    message: str = ""

    @property
    def verified(self) -> int:
        return sum(1 for e in self.entries if e.status == "verified")

    @property
    def pending(self) -> int:
        return sum(1 for e in self.entries if e.status == "pending")


def verify_case(services: Services, case_id: UUID, audience: Audience = Audience.PUBLIC) -> CaseVerification:
    """Check every entry of a case against the latest signed checkpoint with the pure verifier.

    Per entry: the signature under the registered key (spec 06 step 1.4), the chain link (1.5,
    1.6), and the RFC 9162 inclusion proof of its leaf against the checkpoint's verified root
    (3.1-3.5). Entries recorded after the checkpoint are *pending*. The first failing entry is
    named with its step (``failure_text``); every later entry of the case is *unchecked*
    (``NOT_CHECKED``), as ``caseledger verify`` reports only the first failure. An entry the visibility
    policy withholds from ``audience`` is still checked, but shown with the type ``WITHHELD``.
    """
    from ledger import merkle  # noqa: PLC0415
    from ledger.chain import ChainCursor, decode_entry, decode_record  # noqa: PLC0415
    from ledger.checkpoint import verify_checkpoint  # noqa: PLC0415
    from ledger.errors import LedgerError, UsageError, VerificationError  # noqa: PLC0415
    from ledger.hashing import entry_hash  # noqa: PLC0415
    from ledger.signing import ENTRY_CONTEXT, check_signature  # noqa: PLC0415

    c = services.container
    table = services.events_table()
    nd = c.merkle.nodes
    q = (select(table.c.originator_version, table.c.state, c.merkle.leaf_index, nd.c.recorded_at)
         .select_from(table.join(nd, c.merkle.leaf_on(table.c.id)))
         .where(table.c.originator_id == case_id).order_by(table.c.originator_version))
    with c.engine.connect() as conn:
        rows = conn.execute(q).all()
        stored = c.merkle.latest_checkpoint(conn)
        if stored is None:
            return CaseVerification("no_checkpoint", message="尚无签名检查点")
        trusted = services.config.trusted_vkeys
        if not trusted:
            return CaseVerification("untrusted", stored.size, message="未配置可信的检查点公钥")
        try:
            cp = verify_checkpoint(stored.note, trusted, origin=c.settings.origin)
        except (VerificationError, UsageError) as e:
            return CaseVerification("failed", stored.size, message=f"检查点签名无效：{e}")
        proofs: dict[int, list[bytes]] = {}
        for _n, _s, idx, _r in rows:
            if int(idx) < cp.size:
                proofs[int(idx)] = [bytes(h) for h in c.merkle.inclusion_proof(conn, int(idx), cp.size)]
    out = CaseVerification("verified", cp.size, cp.log_signers)
    ring = c.app.keyring
    cursor = ChainCursor(str(case_id))
    failed = False
    for n, state, idx, rec in rows:
        idx, rec = int(idx), int(rec)  # noqa: PLW2901 - the same values, parsed
        shown, occurred, bad = "", None, None
        try:
            data, sig = decode_record(bytes(state))
            entry = decode_entry(data)
            shown = entry.type if entry_visible(audience, entry.type, entry.body) else WITHHELD
            occurred = entry.occurred_at
        except LedgerError as err:
            data = sig = b""
            entry, bad = None, err
        if failed:  # one failure breaks every later link: the rest is not checked (spec 06 §1)
            out.entries.append(EntryCheck(int(n), shown, rec, idx, "unchecked", NOT_CHECKED, occurred))
            continue
        try:
            if bad is not None:
                raise bad
            assert entry is not None
            ehash = entry_hash(data)
            kr = ring.get(entry.key)
            if kr is None:
                c.app.refresh_keys()
                ring = c.app.keyring
                kr = ring.get(entry.key)
            # Step 1.4: the signature verifies under the registered key the entry names.
            if kr is None or not check_signature(kr.public_key, ENTRY_CONTEXT, ehash, sig):
                raise VerificationError("1.4", "signature does not verify", code="E_SIGNATURE")
            cursor.advance(entry, ehash)
            if idx >= cp.size:
                out.entries.append(EntryCheck(int(n), shown, rec, idx, "pending", "待下一个检查点", occurred))
                continue
            leaf = merkle.compute_leaf_hash(ehash, sig, rec, idx)
            merkle.verify_inclusion(idx, cp.size, leaf, proofs[idx], cp.root)
            out.entries.append(EntryCheck(int(n), shown, rec, idx, "verified", "", occurred))
        except LedgerError as e:
            step = getattr(e, "step", None) or ("1.1" if e.code.startswith("E_RECORD") else "1.2")
            out.entries.append(EntryCheck(int(n), shown, rec, idx, "failed", failure_text(step), occurred))
            failed = True
    if any(e.status == "failed" for e in out.entries):
        out.status = "failed"
    elif not out.entries:
        out.status = "failed"
        out.message = "没有记录"
    elif out.pending:
        out.status = "partial"
    return out


def page_url(services: Services, request: Request, case_id: UUID) -> str:
    base = services.config.public_base_url or str(request.base_url).rstrip("/")
    return f"{base}/v/{case_id}"


def qr_svg(url: str) -> str:
    import segno  # noqa: PLC0415

    return segno.make(url, error="m").svg_inline(scale=4, dark="#1f2937", title="行政行为码")


def qr_png(url: str) -> bytes:
    import segno  # noqa: PLC0415

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=6, border=2)
    return buf.getvalue()


def _public_facts(services: Services, case_id: UUID) -> dict[str, Any]:
    facts = case_file_for(Audience.PUBLIC, services.projections.inspection_public_facts(str(case_id)))
    return {k: v for k, v in facts.items() if k not in HIDDEN_FACTS}


def _named(v: object, code_key: str) -> str:
    if isinstance(v, dict):
        name, code = v.get("name"), v.get(code_key)
        return f"{name}（{code}）" if name and code else str(name or code or "")
    return _label(v)


def display_facts(facts: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, Chinese label, text) rows for the verification page."""
    rows: list[tuple[str, str, str]] = []
    for k, v in facts.items():
        if k in {"position", "entries"} or v is None or v in ("", []):
            continue
        if k == "agency":
            text = _named(v, "code")
        elif k == "enterprise":
            text = _named(v, "uscc")
        elif k == "certificates_shown" and isinstance(v, list):
            text = "；".join(f"{o.get('name') or ''} 证号 {o.get('cert_no')}"
                            + (f"（{o['shown_day']} 出示）" if o.get("shown_day") else "（未出示）")
                            for o in v if isinstance(o, dict))
        elif k.endswith("_at") and isinstance(v, int):
            text = _fmt_us(v)
        else:
            text = _label(v)
        rows.append((k, FACT_LABELS.get(k, k), text))
    return rows


def _reader(services: Services, cid: UUID, token: str) -> Audience:
    """ENTERPRISE for the holder of the case's feedback token (R21: the token of its result notice,
    checked as the feedback form checks it, against the invitation id), else PUBLIC (docs/api.md §Visibility)."""
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415

    if not token.strip():
        return Audience.PUBLIC
    notified = getattr(services.container.app.get_inspection(cid), "notified", None)
    want = notified.get("qr_id") if isinstance(notified, dict) else None
    got = hashlib.sha256(token.strip().encode()).hexdigest()[:32]
    if isinstance(want, str) and hmac.compare_digest(got, want):
        return Audience.ENTERPRISE
    return Audience.PUBLIC


def _verification_page(request: Request, services: Services, case_id: str, *, token: str = "",
                       message: str = "", error: str = "", status_code: int = 200) -> HTMLResponse:
    from api.browser_verify import data_json, log_vkey, page_data, qr_fragment, script_sha256  # noqa: PLC0415

    try:
        cid = parse_case_id(case_id)
        case_scope(services, cid)  # 404 for anything that is not an inspection
        facts = _public_facts(services, cid)
    except (ApiError, Exception) as e:  # noqa: BLE001
        return _error_page(request, e)
    url = page_url(services, request, cid)
    qr_url = url + qr_fragment(log_vkey(services))
    check = verify_case(services, cid)
    png = base64.b64encode(qr_png(qr_url)).decode()
    code = str(facts.get("behaviour_code") or cid)
    audience = _reader(services, cid, token)
    data = page_data(services, cid, audience, ENTRY_LABELS)
    return _html(request, "verify.html", {
        "case_id": str(cid), "facts": display_facts(facts), "check": check, "qr_svg": qr_svg(qr_url), "qr_png": png,
        "url": url, "qr_url": qr_url, "data_json": data_json(data) if data is not None else None,
        "audience": str(audience), "script_sha256": script_sha256(), "log_vkey": log_vkey(services),
        "behaviour_code": code, "token": token, "message": message, "error": error,
        "feedback_given": getattr(services.container.app.get_inspection(cid), "feedback", None) is not None,
    }, status_code=status_code)


@router.get("/v/{case_id}", response_class=HTMLResponse)
def verification_page(request: Request, case_id: str, services: ServicesDep,
                      token: Annotated[str, Query(max_length=128)] = "") -> HTMLResponse:
    return _verification_page(request, services, case_id, token=token)


@router.post("/v/{case_id}/feedback", response_class=HTMLResponse)
def feedback_form(
    request: Request, case_id: str, services: ServicesDep,
    token: Annotated[str, Form(max_length=128)] = "",
    rating: Annotated[str, Form(max_length=2)] = "",
    prohibition_code: Annotated[str, Form(max_length=2)] = "",
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> HTMLResponse:
    from api.routers.feedback import FeedbackBody, submit_feedback  # noqa: PLC0415

    try:
        body = FeedbackBody(case_id=case_id, token=token, rating=int(rating) if rating.isdigit() else 0,
                            prohibition_code=prohibition_code or None, comment=comment)
    except ValidationError:
        return _verification_page(request, services, case_id, token=token, status_code=422,
                                  error="请填写评价令牌并选择 1–5 的评分。")
    try:
        submit_feedback(services, body, client_address(request))
    except ApiError as e:
        msg = {"E_FEEDBACK_TOKEN": "评价令牌不正确。", "E_FEEDBACK_EXISTS": "该次检查已经评价过。",
               "E_NO_FEEDBACK_INVITATION": "该次检查尚未告知结果，暂不能评价。",
               "E_RATE_LIMITED": "提交过于频繁，请稍后再试。"}.get(e.code, e.detail)
        return _verification_page(request, services, case_id, token=token, status_code=e.status, error=msg)
    return _verification_page(request, services, case_id, message="感谢您的评价，已记录。")


@router.get("/v/{case_id}/qr.svg")
def qr_svg_image(request: Request, case_id: str, services: ServicesDep) -> Response:
    cid = parse_case_id(case_id)
    case_scope(services, cid)
    import segno  # noqa: PLC0415

    from api.browser_verify import log_vkey, qr_fragment  # noqa: PLC0415

    buf = io.BytesIO()
    segno.make(page_url(services, request, cid) + qr_fragment(log_vkey(services)), error="m").save(
        buf, kind="svg", scale=4)
    return Response(buf.getvalue(), media_type="image/svg+xml")


@router.get("/v/{case_id}/qr.png")
def qr_png_image(request: Request, case_id: str, services: ServicesDep) -> Response:
    cid = parse_case_id(case_id)
    case_scope(services, cid)
    from api.browser_verify import log_vkey, qr_fragment  # noqa: PLC0415

    return Response(qr_png(page_url(services, request, cid) + qr_fragment(log_vkey(services))), media_type="image/png")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.state.error_page = _problem_page  # api/errors.py renders a page's bad query parameters with it
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")


__all__ = ["CaseVerification", "EntryCheck", "install", "qr_png", "qr_svg", "verify_case"]
