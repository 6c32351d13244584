"""The offline court bundle and its standalone verifier (docs/spec/05-bundles.md).

A bundle holds everything needed to check one case with no access to the ledger: the case's
signed entries, the key-registry entries that authorise their keys, an RFC 9162 inclusion proof
for each against one signed checkpoint, and the evidence capture hashes the entries name. It is
one canonical msgpack map (spec 01, layout in spec 05 §Layout).

Verification runs steps 7.1-7.7 in order and stops at the first failure; each check below is
preceded by ``# Step 7.N:`` and the spec's wording. Trust comes from one place only: a trust file
given out of band: the ledger's checkpoint key, and any witness keys with a quorum (ledger/trust.py).

Imports: the standard library, msgpack, PyNaCl and the ledger's pure modules only (encoding,
hashing, signing, chain, keys, merkle, checkpoint, errors, limits). Usage::

    python -m ledger.bundle BUNDLE --trust KEYFILE [--json]
"""

from __future__ import annotations  # noqa: I001 - ledger.errors on two lines (see pyproject: bundle.py)

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger import encoding, merkle
from ledger.chain import Entry, decode_entry, expected_prev
from ledger.checkpoint import NoteVerifier, VerifiedCheckpoint
from ledger.errors import (ChainBreakError, EncodingError, KeyRegistryError, ProofError, SignatureError, UsageError,
                           VerificationError)
from ledger.hashing import Digest, entry_hash
from ledger.keys import CALENDAR_REGISTER_ID, KEY_REGISTRY_ID, KeyRing
from ledger.limits import DEFAULT_LIMITS, Limits
from ledger.signing import BUNDLE_CONTEXT, ENTRY_CONTEXT, check_signature
from ledger.trust import TrustPolicy, as_policy, parse_policy

FORMAT = "caseledger-bundle"
VERSION = 1
FIELDS = frozenset({"format", "v", "case", "checkpoint", "entries", "keys", "evidence"})
KEYS_EXTENSION = "caseledger-keys"
"""Checkpoint extension line ``caseledger-keys <m> <base64 entry hash>``: the key-registry head."""
EVIDENCE_KEYS = frozenset({"capture_hash", "sha256", "blob_sha256"})
EVIDENCE_SUFFIXES = ("_sha256", "_capture_hash")
Trust = TrustPolicy | Sequence[NoteVerifier | str]
STEPS = {"7.1": "bundle size", "7.2": "canonical encoding and layout", "7.3": "signed checkpoint",
         "7.4": "key-registry entries", "7.5": "case entries", "7.6": "evidence hashes", "7.7": "manifest signature",
         "7.8": "calendar-register entries"}


@dataclass(frozen=True, slots=True)
class Failure:
    """The first failing check: its step id, what was expected and what was found."""

    step: str
    code: str
    message: str
    expected: Any = None
    actual: Any = None


@dataclass(slots=True)
class BundleReport:
    """The outcome of each numbered step (``ok``, ``FAILED``, ``skipped``) and the first failure."""

    steps: dict[str, tuple[str, str]] = field(default_factory=lambda: dict.fromkeys(STEPS, ("skipped", "")))
    failure: Failure | None = None
    case: str | None = None
    entries: int = 0
    evidence: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def passed(self, step: str, detail: str) -> None:
        self.steps[step] = ("ok", detail)

    def as_dict(self) -> dict[str, Any]:
        f = self.failure
        return {
            "ok": self.ok, "case": self.case, "entries": self.entries, "notes": self.notes,
            "steps": [{"step": s, "title": STEPS[s], "status": st, "detail": d} for s, (st, d) in self.steps.items()],
            "evidence": [{k: _show(v) for k, v in e.items()} for e in self.evidence],
            "failure": None if f is None else {"step": f.step, "code": f.code, "message": f.message,
                                               "expected": _show(f.expected), "actual": _show(f.actual)},
        }

    def text(self) -> str:
        lines = ["CaseLedger court bundle verification (docs/spec/05-bundles.md)"]
        lines += [f"  {s:<4} {STEPS[s]:<32} {st:<8} {d}".rstrip() for s, (st, d) in self.steps.items()]
        lines += [f"  note: {n}" for n in self.notes]
        if self.failure is None:
            lines.append(f"OK: case {self.case}, {self.entries} entries verified against the signed checkpoint")
        else:
            f = self.failure
            lines += [f"FAILED at step {f.step} ({f.code}): {f.message}",
                      f"  expected: {_show(f.expected)}", f"  actual:   {_show(f.actual)}"]
        return "\n".join(lines)


def _show(v: object) -> object:
    return v.hex() if isinstance(v, bytes) else v


def _msg(err: VerificationError) -> str:
    return err.message.removeprefix(f"step {err.step}: ")


@dataclass(frozen=True, slots=True)
class VerifiedBundle:
    """A bundle that passed every step: the case's entries, proven against ``checkpoint``."""

    case: str
    checkpoint: VerifiedCheckpoint
    entries: tuple[Entry, ...]
    keys: KeyRing
    evidence: tuple[dict[str, Any], ...]
    calendar: tuple[Entry, ...] = ()


# --- Derived data (shared with the exporter, ledger/bundle_export.py) -------------------------

def evidence_of(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """Every capture hash in the entries' bodies, as ``{"n", "path", "hash"}``, in a fixed order.

    Bodies are walked depth first, map keys in canonical (bytewise) order, arrays in order; a
    str or bin value under a key in EVIDENCE_KEYS or ending in EVIDENCE_SUFFIXES is one item.
    """
    out: list[dict[str, Any]] = []

    def walk(x: Any, path: str, n: int) -> None:
        if isinstance(x, dict):
            for k in sorted(x, key=lambda k: k.encode("utf-8")):
                p = f"{path}.{k}"
                if (k in EVIDENCE_KEYS or k.endswith(EVIDENCE_SUFFIXES)) and isinstance(x[k], (str, bytes)):
                    out.append({"hash": x[k], "n": n, "path": p})
                else:
                    walk(x[k], p, n)
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{path}.{i}", n)

    for e in entries:
        walk(e.body, "body", e.n)
    return out


def manifest_digest(bundle: dict[str, Any]) -> bytes:
    """SHA-256 of the canonical bundle map without its ``sig`` field."""
    return hashlib.sha256(encoding.encode({k: v for k, v in bundle.items() if k != "sig"})).digest()


# --- Verification (spec 05 §Verification, steps 7.1-7.7) -----------------------------------

def _layout_error(what: str, actual: object = None) -> VerificationError:
    return VerificationError("7.2", f"wrong bundle layout: want {what}", expected=what, actual=actual,
                             code="E_BUNDLE_LAYOUT")


def _is_item(it: Any, *, withheld_ok: bool = False) -> bool:
    shapes = ({"entry", "sig"}, {"withheld", "sig"}) if withheld_ok else ({"entry", "sig"},)
    return (isinstance(it, dict) and set(it) == {"record", "leaf", "proof"}
            and isinstance(it["record"], dict) and set(it["record"]) in shapes
            and all(isinstance(v, bytes) for v in it["record"].values())
            and isinstance(it["leaf"], dict) and set(it["leaf"]) == {"index", "recorded_at"}
            and all(type(v) is int for v in it["leaf"].values())
            and isinstance(it["proof"], list) and all(isinstance(h, bytes) for h in it["proof"]))


def _check_layout(b: Any, limits: Limits) -> None:
    if not isinstance(b, dict):
        raise _layout_error("the bundle is a map", type(b).__name__)
    if b.get("format") != FORMAT or b.get("v") != VERSION:
        raise _layout_error(f"format {FORMAT!r} version {VERSION}", f"{b.get('format')!r} version {b.get('v')!r}")
    if not FIELDS <= set(b) <= FIELDS | {"sig", "calendar"}:
        raise _layout_error("fields " + ", ".join(sorted(FIELDS)) + " [, sig] [, calendar]", sorted(b))
    if not (isinstance(b["case"], str) and b["case"]) or not isinstance(b["checkpoint"], str):
        raise _layout_error("case and checkpoint are non-empty strings")
    for name in ("keys", "entries", "calendar")[:2 + ("calendar" in b)]:
        items = b[name]
        if not isinstance(items, list) or not 0 < len(items) <= limits.max_bundle_entries:
            raise _layout_error(f"{name} is a list of 1..{limits.max_bundle_entries} items",
                                len(items) if isinstance(items, list) else type(items).__name__)
        bad = next((i for i, it in enumerate(items) if not _is_item(it, withheld_ok=name == "entries")), None)
        if bad is not None:
            raise _layout_error(f"{name}[{bad}] is {{record: {{entry | withheld, sig}}, leaf: {{index, recorded_at}}, "
                                "proof}")
    if not isinstance(b["evidence"], list):
        raise _layout_error("evidence is a list", type(b["evidence"]).__name__)
    sig = b.get("sig")
    if sig is not None and not (isinstance(sig, dict) and set(sig) == {"name", "sig"}
                                and isinstance(sig["name"], str) and isinstance(sig["sig"], bytes)):
        raise _layout_error("sig is {name: str, sig: bin}")


def _check_items(items: list[dict[str, Any]], stream: str, cp: VerifiedCheckpoint, ring: KeyRing,
                 *, s: str, limits: Limits) -> tuple[list[Entry], Digest]:
    """Steps 7.4.1-7.4.7 (the key registry), 7.5.1-7.5.8 (the case) or 7.8 (the calendar register, as 7.5)."""
    registry = s == "7.4"
    out: list[Entry] = []
    head: Digest | None = None
    last_index = -1
    for n, it in enumerate(items, start=1):
        rec, leaf, where = it["record"], it["leaf"], f"{STEPS[s].split()[0]} entry {n}"
        if "withheld" in rec:  # only case entries may be withheld (layout, step 7.2)
            head, last_index = _check_withheld(it, where, last_index, cp, limits), leaf["index"]
            continue
        # Step 7.4.1 and 7.5.1: the entry is canonical msgpack with a well-formed envelope.
        try:
            e = decode_entry(rec["entry"], limits=limits)
        except EncodingError as err:
            raise VerificationError(f"{s}.1", f"{where} is not a canonical entry: {err.message}",
                                    expected="canonical entry", actual=err.code, code=err.code) from err
        # Step 7.4.2 and 7.5.2: the entries belong to this stream and are numbered 1, 2, ... k in order.
        if e.case != stream or e.n != n:
            raise ChainBreakError(f"{s}.2", f"{where} is out of place (missing, reordered or foreign)",
                                  expected=f"{stream}#{n}", actual=f"{e.case}#{e.n}")
        # Step 7.4.3 and 7.5.3: prev is the previous entry's hash, or the case's genesis value for n = 1.
        want = expected_prev(stream, n, head)
        if e.prev != want:
            raise ChainBreakError(f"{s}.3", f"{where}: prev does not match the previous entry", expected=want,
                                  actual=e.prev)
        # Step 7.4.4 and 7.5.4: the key is authorised: registry entries by the rules of the key registry
        # (spec 02), case entries by a key registered to the actor and valid at occurred_at.
        try:
            if registry:  # entry 1 registers the root key itself; later ones are signed by a root key
                ring.authorise_registry_entry(n, e.key, e.actor, e.occurred_at, e.type, e.body)
                pub = e.body["public_key"] if n == 1 else ring.check(e.key, e.actor, e.occurred_at).public_key
            else:
                pub = ring.check(e.key, e.actor, e.occurred_at).public_key
        except (KeyRegistryError, KeyError, TypeError, ValueError) as err:
            raise VerificationError(f"{s}.4", f"{where}: {err}", expected=f"key valid for {e.actor} at "
                                    f"{e.occurred_at}", actual=e.key, code=getattr(err, "code", "E_KEY_MALFORMED")) from err  # noqa: E501
        # Step 7.4.5 and 7.5.5: the Ed25519 signature verifies over PAE(entry context, entry hash).
        ehash = entry_hash(rec["entry"])
        if not check_signature(pub, ENTRY_CONTEXT, ehash, rec["sig"]):
            raise SignatureError(f"{s}.5", f"{where}: signature does not verify", expected=f"signature by {pub.hex()}",
                                 actual=rec["sig"])
        # Step 7.4.6 and 7.5.6: the leaf index is below the checkpoint size and above the previous
        # entry's; the leaf hash is recomputed from (entry hash, signature, recorded_at, index).
        idx = leaf["index"]
        if not last_index < idx < cp.size:
            raise ProofError(f"{s}.6", f"{where}: leaf index is not in ({last_index}, size {cp.size})",
                             expected=f"{last_index} < index < {cp.size}", actual=idx, code="E_PROOF_INDEX")
        try:
            lh = merkle.compute_leaf_hash(ehash, rec["sig"], leaf["recorded_at"], idx)
        except EncodingError as err:
            raise ProofError(f"{s}.6", f"{where}: {err.message}", actual=leaf) from err
        # Step 7.4.7 and 7.5.7: the inclusion proof, of exactly the length derived from (index, size),
        # leads from the leaf hash to the checkpoint's root (RFC 9162 §2.1.3.2; spec 06 steps 3.1-3.5).
        try:
            merkle.verify_inclusion(idx, cp.size, lh, it["proof"], cp.root, limits=limits)
        except ProofError as err:
            raise ProofError(f"{s}.7", f"{where}: inclusion proof refused at step {err.step}: {_msg(err)}",
                             expected=err.expected, actual=err.actual) from err
        # Step 7.5.8: an entry signed by a revoked key was recorded before the revocation took effect.
        revoked_at = None if registry else ring.check(e.key, e.actor, e.occurred_at).revoked_at
        if revoked_at is not None and leaf["recorded_at"] >= revoked_at:
            raise VerificationError(f"{s}.8", f"{where}: recorded after its key was revoked at {revoked_at}",
                                    code="E_KEY_REVOKED", expected=f"recorded_at < {revoked_at}", actual=leaf["recorded_at"])  # noqa: E501
        if registry:
            try:
                ring.apply(e.type, e.body)
            except (KeyRegistryError, KeyError, TypeError, ValueError) as err:
                raise VerificationError(f"{s}.4", f"{where}: malformed key-registry entry: {err}",
                                        code="E_KEY_MALFORMED") from err
        head, last_index = ehash, idx
        out.append(e)
    return out, head or Digest(b"")  # empty only for an absent calendar (keys and entries are never empty)


def _check_withheld(it: dict[str, Any], where: str, last_index: int, cp: VerifiedCheckpoint, limits: Limits) -> Digest:
    """Step 7.5.9: a withheld case entry (spec 05 §Withheld entries); returns its entry hash."""
    rec, leaf = it["record"], it["leaf"]
    # Step 7.5.9: a withheld entry is its entry hash and signature only; its entry hash is 32 bytes,
    # its leaf index is below S and above the previous entry's, and its inclusion proof leads to R.
    if len(rec["withheld"]) != 32 or not last_index < leaf["index"] < cp.size:  # noqa: PLR2004 - SHA-256
        raise ProofError("7.5.9", f"{where} (withheld): bad entry hash or leaf index", code="E_PROOF_INDEX",
                         expected=f"32-byte hash, {last_index} < index < {cp.size}", actual=leaf["index"])
    try:
        lh = merkle.compute_leaf_hash(rec["withheld"], rec["sig"], leaf["recorded_at"], leaf["index"])
        merkle.verify_inclusion(leaf["index"], cp.size, lh, it["proof"], cp.root, limits=limits)
    except (ProofError, EncodingError) as err:
        raise ProofError("7.5.9", f"{where} (withheld): inclusion proof refused: {err.message}",
                         expected=getattr(err, "expected", None), actual=getattr(err, "actual", None)) from err
    return Digest(rec["withheld"])


def _check_registry_head(cp: VerifiedCheckpoint, m: int, head: Digest, report: BundleReport) -> None:
    ext = [x for x in cp.extensions if x.startswith(KEYS_EXTENSION + " ")]
    if not ext:
        report.notes.append("the checkpoint does not commit the key-registry head; "
                            "omitted trailing registry entries cannot be detected")
        return
    # Step 7.4.8: if the checkpoint names the key-registry head ("caseledger-keys <m> <base64 hash>"),
    # the bundle's registry entries end exactly there (no trailing rotation or revocation omitted).
    got = f"{KEYS_EXTENSION} {m} {base64.b64encode(head).decode()}"
    if ext[0] != got:
        raise ChainBreakError("7.4.8", "key-registry entries do not end at the head the checkpoint names",
                              expected=ext[0], actual=got, code="E_KEYS_INCOMPLETE")


def _verify(data: bytes, trusted_vkeys: Trust, limits: Limits, report: BundleReport) -> VerifiedBundle:
    policy = as_policy(trusted_vkeys)  # the log key(s) and any witness quorum (spec 04 §Trust policy)
    # Step 7.1: the bundle is at most Limits.max_bundle_bytes bytes.
    if not 0 < len(data) <= limits.max_bundle_bytes:
        raise VerificationError("7.1", "bundle is empty or larger than the limit", code="E_BUNDLE_SIZE",
                                expected=f"1..{limits.max_bundle_bytes} bytes", actual=len(data))
    report.passed("7.1", f"{len(data)} bytes")
    # Step 7.2: the bytes are one canonical msgpack map (not truncated, nothing trailing) with the
    # layout of spec 05 §Layout, format "caseledger-bundle" and version 1.
    try:
        b = encoding.decode(data, limits=limits, max_bytes=limits.max_bundle_bytes)
    except EncodingError as err:
        raise VerificationError("7.2", f"bundle is not canonical msgpack (truncated or corrupt?): {err.message}",
                                expected="one canonical msgpack map", actual=err.code, code=err.code) from err
    _check_layout(b, limits)
    report.case = b["case"]
    report.passed("7.2", f"{FORMAT} v{VERSION}, case {b['case']}, {len(b['entries'])} entries, "
                         f"{len(b['keys'])} key-registry entries")
    # Step 7.3: the checkpoint is a well-formed signed note signed by a trusted key and cosigned by the
    # policy's witness quorum (spec 06 steps 4.1-4.7).
    try:
        cp = policy.verify(b["checkpoint"], limits=limits)
    except VerificationError as err:
        raise type(err)("7.3", f"checkpoint refused at step {err.step}: {_msg(err)}", expected=err.expected,
                        actual=err.actual, code=err.code) from err
    report.passed("7.3", f"{cp.origin}, size {cp.size}, root {cp.root.hex()}, signed by {', '.join(cp.log_signers)}"
                         + (f"; cosigned by {', '.join(cp.witnesses)}" if cp.witnesses else ""))
    ring = KeyRing()
    keys, head = _check_items(b["keys"], KEY_REGISTRY_ID, cp, ring, s="7.4", limits=limits)
    _check_registry_head(cp, len(keys), head, report)
    report.passed("7.4", f"{len(keys)} entries, {len(ring)} keys")
    entries, _ = _check_items(b["entries"], b["case"], cp, ring, s="7.5", limits=limits)
    report.entries, withheld = len(entries), len(b["entries"]) - len(entries)
    report.passed("7.5", f"{len(entries)} entries, n = 1..{len(b['entries'])}, all in the log"
                         + (f"; {withheld} withheld (hash and position only)" if withheld else ""))
    # Step 7.6: the evidence list equals the capture hashes named in the entries' bodies (spec 05 §Evidence).
    evidence, given = evidence_of(entries), b["evidence"]
    if given != evidence:
        i = next((i for i, (x, y) in enumerate(zip(given, evidence)) if x != y), min(len(given), len(evidence)))  # noqa: B905 - stops at the shorter on purpose
        raise VerificationError("7.6", f"evidence item {i} does not match the entries", code="E_EVIDENCE",
                                expected=evidence[i] if i < len(evidence) else "no item",
                                actual=given[i] if i < len(given) else "no item")
    report.evidence = evidence
    report.passed("7.6", f"{len(evidence)} capture hashes")
    # Step 7.7: if present, the manifest signature verifies under the trusted key of that name,
    # over PAE(bundle context, SHA-256(the canonical bundle without "sig")).
    if "sig" in b:
        sig = b["sig"]
        digest = manifest_digest(b)
        if not any(k.name == sig["name"] and check_signature(k.public_key, BUNDLE_CONTEXT, digest, sig["sig"])
                   for k in policy.log_keys):
            raise SignatureError("7.7", "manifest signature does not verify under a trusted key",
                                 expected=f"signature by trusted key {sig['name']!r}", actual=sig["sig"])
        report.passed("7.7", f"signed by {sig['name']}")
    else:
        report.steps["7.7"] = ("absent", "the bundle carries no manifest signature (optional)")
    # Step 7.8: the calendar register's entries, if present, pass steps 7.5.1-7.5.8 as that stream's.
    cal = _check_items(b.get("calendar", []), CALENDAR_REGISTER_ID, cp, ring, s="7.8", limits=limits)[0]
    report.steps["7.8"] = ("ok", f"{len(cal)} entries") if cal else ("absent", "no calendar-register entries")
    return VerifiedBundle(b["case"], cp, tuple(entries), ring, tuple(evidence), tuple(cal))


def verify_bundle(data: bytes, trusted_vkeys: Trust, *,
                  limits: Limits = DEFAULT_LIMITS) -> BundleReport:
    """Verify a bundle offline (spec 05 §Verification); never raises for bad bundle bytes.

    ``trusted_vkeys``: the ledger's checkpoint verifier keys, or a :class:`TrustPolicy` that also
    requires witness cosignatures; obtained out of band. Returns each step's outcome;
    ``report.failure`` names the first failing step.

    Raises:
        UsageError: no trusted key was given, or a given key is malformed.
    """
    report = BundleReport()
    try:
        _verify(data, trusted_vkeys, limits, report)
    except VerificationError as err:
        report.failure = Failure(err.step, err.code, _msg(err), err.expected, err.actual)
        report.steps[".".join(err.step.split(".")[:2])] = ("FAILED", f"step {err.step}")
    return report


def load_verified_bundle(data: bytes, trusted_vkeys: Trust, *,
                         limits: Limits = DEFAULT_LIMITS) -> VerifiedBundle:
    """Raising form of :func:`verify_bundle`: the verified bundle, or the first failure.

    Raises:
        VerificationError: (or a subclass) carrying ``step``, ``expected`` and ``actual``.
        UsageError: no trusted key was given, or a given key is malformed.
    """
    return _verify(data, trusted_vkeys, limits, BundleReport())


def run(path: str, trust: str, *, as_json: bool = False, limits: Limits = DEFAULT_LIMITS) -> int:
    """Verify the bundle file ``path`` against the trust file ``trust``; print the report. Exit 0 / 1 / 2."""
    try:
        with open(path, "rb") as f:  # noqa: PTH123 - read no more than the limit allows
            data = f.read(limits.max_bundle_bytes + 1)
        with open(trust, encoding="utf-8") as f:  # noqa: PTH123
            report = verify_bundle(data, parse_policy(f.read()), limits=limits)
    except (OSError, UnicodeDecodeError, UsageError) as e:
        print(f"verify-bundle: {f'trust file {trust}: ' * isinstance(e, UsageError)}{e}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), ensure_ascii=False, default=str) if as_json else report.text())
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ledger.bundle", description="Verify a CaseLedger court bundle offline.")
    p.add_argument("file", help="the bundle file")
    p.add_argument("--trust", required=True, help="trust file: log key(s), or a policy with witnesses (spec 04)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    return run(args.file, args.trust, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
