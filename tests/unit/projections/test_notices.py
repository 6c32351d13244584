"""The public-notice allow-list, scrubbing and export order (pure)."""

from __future__ import annotations

import csv
import io

import pytest

from projections import notices

VALID_ID = next(f"11010519491231002{c}" for c in "0123456789X" if notices.is_resident_id(f"11010519491231002{c}"))


def test_the_allow_list_is_the_xinyong_order_without_the_four_personal_fields() -> None:
    assert len(notices.CF_COLUMNS) == 30
    assert notices.CF_COLUMNS[0] == "cf_xdr_mc"
    assert notices.CF_COLUMNS[-1] == "bz"
    assert tuple(c for c in notices.CF_COLUMNS if c not in notices.NEVER_PUBLIC) == notices.PUBLIC_CF_FIELDS
    assert {"cf_fr_zjlx", "cf_fr_zjhm", "cf_xdr_zjlx", "cf_xdr_zjhm"} == notices.NEVER_PUBLIC


def test_personal_id_fields_are_dropped_even_when_the_redaction_map_forgot_them() -> None:
    content = {"cf_xdr_zjhm": VALID_ID, "cf_fr_zjhm": VALID_ID, "cf_wsh": "罚1", "internal": "x", "cf_frdb": "张三"}
    assert notices.public_fields(content, {}) == {"cf_frdb": "张三", "cf_wsh": "罚1"}


def test_a_field_named_in_the_redaction_map_is_dropped() -> None:
    assert notices.public_fields({"cf_frdb": "张三", "cf_wsh": "罚1"}, {"cf_frdb": "个人信息"}) == {"cf_wsh": "罚1"}


def test_valid_identity_numbers_in_free_text_are_scrubbed_and_codes_are_not() -> None:
    uscc = "91350100M000100Y43"
    out = notices.public_fields({"cf_sy": f"身份证{VALID_ID}，统一代码{uscc}", "cf_xdr_shxym": uscc}, {})
    assert VALID_ID not in out["cf_sy"]
    assert notices.SCRUBBED in out["cf_sy"]
    assert uscc in out["cf_sy"]
    assert out["cf_xdr_shxym"] == uscc
    invalid = VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1")
    assert notices.scrub(f"编号{invalid}") == f"编号{invalid}"  # a wrong check digit is not an identity number


@pytest.mark.parametrize(("fen", "wan"), [(200_000, "0.2"), (1_000_000, "1"), (1, "0.000001"), (123_456_789,
                                                                                                "123.456789")])
def test_fines_are_published_in_units_of_ten_thousand_yuan(fen: int, wan: str) -> None:
    assert notices.fen_to_wan(fen) == wan


def test_the_csv_has_a_header_in_export_order_and_empty_content_for_a_withdrawn_notice() -> None:
    text = notices.to_csv([{"fields": {}, "status": "withdrawn", "withdrawal_reason": "已撤销"},
                           {"fields": {"cf_wsh": "罚1", "cf_xdr_zjhm": VALID_ID}, "status": "published"}])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.startswith(",".join(notices.EXPORT_COLUMNS) + "\r\n")
    assert rows[0]["withdrawal_reason"] == "已撤销"
    assert rows[0]["cf_wsh"] == ""
    assert rows[1]["cf_wsh"] == "罚1"
    assert VALID_ID not in text


def _it(n: int, wire: str, **body: object) -> object:
    from projections.source import Item

    return Item(position=n, leaf_index=n, recorded_at=n, case="c", n=n, type=f"inspection.{wire}.v1",
                occurred_at=1_758_852_000_000_000, actor="pub", key=b"k" * 32, prev=b"p" * 32, body=dict(body),
                entry_hash=bytes([n]) * 32, sig=b"s" * 64)


def test_the_decided_publication_period_becomes_cf_gsjzq_and_expiry_removes_the_content() -> None:
    from projections.projectors import _notice_apply

    state: dict = {"agency": "A", "decision": {"decision_no": "罚1", "decided_day": "2025-09-26",
                                                "penalty_kinds": ["罚款"], "fine_fen": 200_000}, "alterations": {}}
    versions: list = []
    _notice_apply(state, None, _it(1, "publication_period_set", public_until="2028-09-26"), versions)
    row = _notice_apply(state, None, _it(2, "published", content={"cf_wsh": "罚1", "cf_gsjzq": "2026-01-01"},
                                         redaction_map={}, content_hash="h", redaction_map_hash="r",
                                         regime="samr", flags=[]), versions)
    assert row is not None
    assert row["public_until"] == "2028-09-26"
    assert row["fields"]["cf_gsjzq"] == "2028-09-26"
    assert row["fields"]["cf_nr_fk"] == "0.2"
    assert row["fields"]["cf_cfjgdm"] == "A"
    gone = _notice_apply(state, row, _it(3, "credit_repair_approved", application_ref="x"), versions)
    assert gone is not None
    assert gone["status"] == "repaired"
    assert gone["fields"] == {}
    assert gone["search"] == ""
    assert [v["event"] for v in versions] == ["published", "repaired"]
