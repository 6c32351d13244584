"""The inspection's vocabulary and statutory periods, shared by its procedure modules.

``domain.inspection`` re-exports every name, so ``from domain.inspection import REVIEW_POINTS``
keeps working.
"""

from __future__ import annotations

from datetime import timedelta

INSPECTION_TYPES = frozenset({"routine", "case", "special"})  # 日常 / 个案 / 专项
#: R9, R12: where a 个案 (case-type) task comes from — 投诉举报, 转办移送, 上级交办, 数据监测.
CASE_SOURCES = frozenset({"complaint_report", "referral", "superior_assignment", "data_monitoring"})
MAX_SOURCE_REF = 128
MODES = frozenset({"on_site", "off_site"})
RESULTS = frozenset({"no_issue", "rectification_ordered", "case_filed", "referral"})
OUTCOMES = frozenset({"penalty", "no_penalty_minor", "no_penalty_unproven", "referral"})  # R40
#: Complaint codes (R20): the 五个严禁 1-5 and the 八个不得 a-h.
PROHIBITION_CODES = ("1", "2", "3", "4", "5", "a", "b", "c", "d", "e", "f", "g", "h")
MAX_FEEDBACK_COMMENT = 1000
DECIDER_ROLES = frozenset({"agency_head", "collective"})  # R37
CASE_CLASSES = frozenset({"ordinary", "complex", "major"})
#: R22 (APL art. 46): the eight statutory types; the eighth covers both kinds of 笔录.
EVIDENCE_TYPES = frozenset(
    {"书证", "物证", "视听资料", "电子数据", "证人证言", "当事人的陈述", "鉴定意见", "勘验笔录", "现场笔录"},
)
AV_TYPES = frozenset({"视听资料", "电子数据"})
AV_METADATA_KEYS = ("device_id", "captured_at", "maker", "purpose")  # R26
OFFSITE_SOURCES = frozenset({"document_review", "data_sharing", "remote_video", "online_monitoring"})
DEVICE_SOURCE = "device"  # R27: an electronic technical monitoring device (on- or off-site)
#: R20 严禁变相检查: activities that may not create inspection events (with English aliases).
DISGUISED_ACTIVITIES = frozenset(
    {"观摩", "督导", "考察", "评比", "observation", "supervision", "study_visit", "appraisal"},
)
#: R38: the eight points of a legal-review opinion.
REVIEW_POINTS = (
    "subject_legality",
    "officer_qualification",
    "procedure",
    "facts_and_evidence",
    "law_and_discretion",
    "competence",
    "documents_complete",
    "crime_referral",
)
#: R48: publication regimes and their deadlines in working days after the decision.
PUBLICATION_REGIMES: dict[str, int] = {
    "penalty_118": 7,  # licensing and penalty decisions (国办发〔2018〕118号)
    "other_decision": 20,  # other enforcement decisions (118号; OGI art. 26)
    "samr_same_province": 20,  # SAMR45 art. 9
    "samr_other_province": 10,  # SAMR45 art. 10 (push within 10 wd)
}
SERVICE_METHODS = frozenset(
    {"on_announcement", "direct", "left_at_premises", "post", "electronic", "public_notice"},
)
SANSHU = ("行政处罚决定书", "信用修复告知书", "行政合规建议书")  # R45 三书同达
#: R49: fields that are never public.
NEVER_PUBLIC_FIELDS = frozenset({"cf_fr_zjlx", "cf_fr_zjhm", "cf_xdr_zjlx", "cf_xdr_zjhm"})
ALTERATION_KINDS = frozenset({"changed", "revoked", "confirmed_illegal", "confirmed_void"})  # R51

SERVICE_WD = 7  # R46
WITHDRAWAL_WD = 3  # R51
DECISION_NATURAL_DAYS = 90  # R30
DEFAULT_RESULT_NOTICE_WD = 3  # R21 [U: no national period; configuration]
DEFAULT_EMERGENCY_WINDOW = timedelta(hours=24)  # R9 (configuration)
#: R24: the phases a closed case must show a record for.
RECORD_PHASES = ("opening", "investigation", "review", "decision", "service", "execution")
