"""Public penalty notices (双公示 行政处罚信息): the allow-list, redaction and export order.

Rulebook §2.1. Only the fields in :data:`PUBLIC_CF_FIELDS` ever leave the projection, in
信用中国 column order; the four personal-identity fields (R49) are not in it, whatever a
published document contains. Free-text fields are also scrubbed of anything that checks out as
a resident identity number (GB 11643, with its check digit), as a second line of defence.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: The 信用中国 双公示 行政处罚 columns, in order (rulebook §2.1 rows 1-30).
CF_COLUMNS: tuple[str, ...] = (
    "cf_xdr_mc", "cf_xdr_lb", "cf_xdr_shxym", "cf_xdr_gszc", "cf_xdr_zzjg", "cf_xdr_swdj", "cf_xdr_sydw",
    "cf_xdr_shzz", "cf_frdb", "cf_fr_zjlx", "cf_fr_zjhm", "cf_xdr_zjlx", "cf_xdr_zjhm", "cf_wsh", "cf_wfxw",
    "cf_sy", "cf_yj", "cf_cflb", "cf_nr", "cf_nr_fk", "cf_nr_wfff", "cf_nr_zkdx", "cf_jdrq", "cf_yxq",
    "cf_gsjzq", "cf_cfjg", "cf_cfjgdm", "cf_sjly", "cf_sjlydm", "bz",
)
#: R49: never public (rows 10-13).
NEVER_PUBLIC: frozenset[str] = frozenset({"cf_fr_zjlx", "cf_fr_zjhm", "cf_xdr_zjlx", "cf_xdr_zjhm"})
#: The allow-list, in 信用中国 order.
PUBLIC_CF_FIELDS: tuple[str, ...] = tuple(c for c in CF_COLUMNS if c not in NEVER_PUBLIC)
#: Ledger columns appended after the cf_* columns (rulebook §2.1 L1, L2).
LEDGER_COLUMNS: tuple[str, ...] = (
    "published_at", "event_id", "content_hash", "redaction_map_hash", "regime_version", "calendar_version",
    "status", "withdrawal_reason", "cause_event_id",
)
EXPORT_COLUMNS: tuple[str, ...] = (*PUBLIC_CF_FIELDS, *LEDGER_COLUMNS)
#: Free-text fields scrubbed of identity numbers.
FREE_TEXT = frozenset({"cf_sy", "cf_nr", "cf_wfxw", "bz", "cf_nr_zkdx", "cf_yj"})
SCRUBBED = "[已隐去]"
_ID18 = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                   r"(?![0-9A-Za-z])")
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def is_resident_id(s: str) -> bool:
    """GB 11643 18-digit citizen identity number with a valid check character."""
    if not _ID18.fullmatch(s):
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _W, strict=True))
    return _CHECK[total % 11] == s[17].upper()


def scrub(text: str) -> str:
    """Replace every valid resident identity number in ``text``."""
    return _ID18.sub(lambda m: SCRUBBED if is_resident_id(m.group(0)) else m.group(0), text)


def public_fields(content: Mapping[str, Any], redaction_map: Mapping[str, Any]) -> dict[str, str]:
    """Allow-listed ``cf_*`` fields of a published document, in 信用中国 order.

    A field named in the redaction map is dropped even if present; values are strings.
    """
    out: dict[str, str] = {}
    for f in PUBLIC_CF_FIELDS:
        if f in content and f not in redaction_map and content[f] is not None:
            v = str(content[f])
            out[f] = scrub(v) if f in FREE_TEXT else v
    return out


def fen_to_wan(fen: int) -> str:
    """Fen → 万元 as a decimal string with up to 6 places (2,000 yuan = 200,000 fen → ``0.2``)."""
    q, r = divmod(int(fen), 1_000_000)
    if r == 0:
        return str(q)
    return f"{q}.{r:06d}".rstrip("0")


def export_row(notice: Mapping[str, Any]) -> dict[str, Any]:
    """One notice as an ordered dict in export column order (content empty when withdrawn)."""
    fields = notice.get("fields") or {}
    row: dict[str, Any] = {c: fields.get(c, "") for c in PUBLIC_CF_FIELDS}
    for c in LEDGER_COLUMNS:
        v = notice.get(c)
        row[c] = "" if v is None else v
    return row


def to_csv(notices: Iterable[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(EXPORT_COLUMNS)
    for n in notices:
        row = export_row(n)
        w.writerow([row[c] for c in EXPORT_COLUMNS])
    return buf.getvalue()
