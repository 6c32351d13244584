"""Pass 2 of ``caseledger verify``: the Merkle log against the entries and the checkpoints.

Walks the leaves in index order joined to their entries, recomputes every leaf hash and the
root (O(log n) memory through a frontier), checks that every entry has exactly one leaf, then
compares the root with the latest signed checkpoint and, given an older checkpoint, checks
consistency from it (tail truncation, a dropped case). With trusted keys, a non-empty log with
no signed checkpoint is not intact (step 5.5.1), and a state file lets a repeated audit check
the log against the checkpoint it saw last time (step 5.8), so a rollback with the checkpoints
removed is caught without the auditor keeping notes by hand.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, Engine, MetaData, Table, func, select

from ledger import merkle
from ledger.chain import decode_record
from ledger.checkpoint import parse_checkpoint_body, parse_note, verify_checkpoint
from ledger.errors import LedgerError, UsageError, VerificationError
from ledger.hashing import Digest, entry_hash
from ledger.merkle_store import MerkleStore
from ledger.trust import TrustPolicy, parse_policy
from ledger.verify import Failure, VerificationReport

Check = Callable[[Engine, Table, VerificationReport], None]


def check_merkle(trust: str | None = None, older: str | None = None, state: str | None = None) -> Check:
    """Build the pass-2 check.

    Args:
        trust: a trust file: the log's checkpoint verifier keys, or a policy that also requires a
            quorum of witness cosignatures on the latest checkpoint (spec 04 §Trust policy).
        older: a file holding an older checkpoint note (step 5.6).
        state: the verifier's state file (step 5.8): the checkpoint it remembers from its last
            intact run, if the file exists; :func:`save_state` writes it after an intact run.

    Raises:
        OSError: a file cannot be read.
        UsageError: ``state`` is given without ``trust`` (an unsigned memory proves nothing),
            or the trust file is malformed.
    """
    if state and not trust:
        msg = "--state needs --trust: only a checkpoint signed by a trusted key is remembered"
        raise UsageError(msg)
    trusted = parse_policy(Path(trust).read_text()) if trust else None
    older_note = Path(older).read_text() if older else None
    state_path = Path(state) if state else None
    remembered = state_path.read_text(encoding="utf-8") if state_path and state_path.exists() else None

    def run(engine: Engine, table: Table, report: VerificationReport) -> None:
        store = MerkleStore(MetaData())
        walk_leaves(engine, table, store, report)
        if report.failure is None:
            compare_checkpoints(engine, store, report, trusted, older_note)
        if report.failure is None and state_path is not None:
            if remembered is None:
                report.notes.append(f"no remembered checkpoint in {state_path}: first run with this state file")
            else:
                assert trusted is not None  # --state needs --trust
                compare_remembered(engine, store, report, trusted, remembered)

    return run


def walk_leaves(engine: Engine, table: Table, store: MerkleStore, report: VerificationReport) -> None:
    """Steps 5.1-5.4 and 5.7: each leaf matches its entry; leaves and entries pair one to one; no
    entry of a revoked key was recorded after the revocation took effect."""
    nd = store.nodes
    q = (select(store.leaf_index, nd.c.notification_id, nd.c.recorded_at, nd.c.entry_hash, nd.c.hash, table.c.state,
                table.c.originator_id, table.c.originator_version)
         .select_from(nd.outerjoin(table, table.c.id == nd.c.notification_id))
         .where(nd.c.notification_id.is_not(None)).order_by(nd.c.pos))
    frontier = merkle.Frontier()
    last_time = last_nid = -1
    runs: list[tuple[int, int]] = []
    revoked = report.revoked_uses
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=5000).execute(q)
        for idx, nid, rec_at, ehash, lhash, state, oid, n in rows:
            case = str(oid) if oid is not None else None
            # Step 5.1: leaves are numbered 0, 1, 2 ... without gaps, and their notification ids rise.
            if idx != frontier.size:
                report.fail(Failure("5.1", "E_PROOF", "leaf index gap", nid, case, n, frontier.size, idx))
                return
            if nid <= last_nid:
                report.fail(Failure("5.1", "E_PROOF", "leaf notification ids do not rise", nid, case, n,
                                    f"> {last_nid}", nid))
                return
            if nid != last_nid + 1 or idx == 0:
                runs.append((nid, idx))
            last_nid = nid
            # Step 5.2: the leaf's entry exists and its hash equals the leaf's entry hash.
            if state is None:
                report.fail(Failure("5.2", "E_ENTRY_MISSING", "leaf refers to a deleted entry", nid, None, None,
                                    ehash.hex(), None))
                return
            try:
                data, sig = decode_record(bytes(state))
            except LedgerError as e:
                report.fail(Failure("5.2", e.code, e.message, nid, case, n))
                return
            actual = entry_hash(data)
            if actual != bytes(ehash):
                report.fail(Failure("5.2", "E_PROOF", "entry does not match its leaf", nid, case, n,
                                    bytes(ehash).hex(), actual.hex()))
                return
            # Step 5.3: the leaf hash commits (entry hash, signature, recorded_at, index).
            want = merkle.compute_leaf_hash(actual, sig, rec_at, idx)
            if want != bytes(lhash):
                report.fail(Failure("5.3", "E_PROOF", "leaf hash does not commit this entry", nid, case, n,
                                    want.hex(), bytes(lhash).hex()))
                return
            # Step 5.7: an entry signed by a revoked key was recorded before the revocation took
            # effect, whatever occurred_at it claims (the write path refuses it otherwise, step 2.2).
            use = revoked.get(nid) if revoked else None
            if use is not None and rec_at >= use[0]:
                report.fail(Failure("5.7", "E_KEY_REVOKED", "entry was recorded after its key was revoked", nid,
                                    use[1], use[2], f"recorded_at < {use[0]}", rec_at))
                return
            if rec_at < last_time:
                report.notes.append(f"recorded_at goes backwards at leaf {idx}")
            last_time = rec_at
            frontier.append(want)
        # Step 5.1: the run index that finds leaves by notification id lists exactly the leaves
        # whose id is not the previous leaf's plus one.
        r = store.runs
        stored_runs = [(int(a), int(b)) for a, b in conn.execute(select(r.c.notification_id, r.c.idx)
                                                                 .order_by(r.c.notification_id))]
        if stored_runs != runs:
            bad = next((i for i, (a, b) in enumerate(zip(stored_runs, runs, strict=False)) if a != b),
                       min(len(runs), len(stored_runs)))
            report.fail(Failure("5.1", "E_PROOF", "the run index (merkle_runs) does not match the leaves", None,
                                None, None, runs[bad] if bad < len(runs) else None,
                                stored_runs[bad] if bad < len(stored_runs) else None))
            return
        entries = conn.execute(select(func.count()).select_from(table)).scalar() or 0
        # Step 5.4: every entry has a leaf (no entry was slipped in outside the log).
        if entries != frontier.size:
            orphan = conn.execute(
                select(table.c.id, table.c.originator_id, table.c.originator_version)
                .select_from(table.outerjoin(nd, store.leaf_on(table.c.id)))
                .where(nd.c.pos.is_(None)).order_by(table.c.id).limit(1),
            ).first()
            if orphan is not None:
                report.fail(Failure("5.4", "E_NOT_IN_LOG", "entry has no Merkle leaf", orphan[0], str(orphan[1]),
                                    orphan[2], "a leaf", None))
                return
    report.leaves = frontier.size
    report.root = frontier.root().hex()


def compare_checkpoints(engine: Engine, store: MerkleStore, report: VerificationReport,
                        trusted: TrustPolicy | None, older_note: str | None) -> None:
    """Steps 5.5-5.6: the recomputed root equals the latest checkpoint; older ones are consistent."""
    root = bytes.fromhex(report.root or merkle.root_of([]).hex())
    with engine.connect() as conn:
        latest = store.latest_checkpoint(conn)
        if latest is None and trusted is not None and report.leaves > 0:
            # Step 5.5.1: with trusted keys, a non-empty log has a signed checkpoint.
            report.fail(Failure("5.5.1", "E_NO_CHECKPOINT",
                                "the log has entries but no signed checkpoint (were the checkpoints removed?)",
                                None, None, None, "a checkpoint signed by a trusted key", "none"))
            return
        if latest is None:
            report.notes.append("no checkpoint signed yet: run `caseledger checkpoint`")
        else:
            report.checkpoint_size = latest.size
            try:
                if trusted is not None:  # with the witnesses' cosignatures, under the policy's quorum
                    report.checkpoint_note = trusted.verify(store.cosigned_note(conn, latest)).note
            except VerificationError as e:
                report.fail(Failure(e.step, e.code, e.message, None, None, None, e.expected, e.actual))
                return
            # Step 5.5: the latest checkpoint's root is the root of the first `size` leaves.
            want = store.root(conn, latest.size) if latest.size <= report.leaves else None
            if latest.size > report.leaves or want != bytes(latest.root) or \
                    (latest.size == report.leaves and root != bytes(latest.root)):
                report.fail(Failure("5.5", "E_CHECKPOINT_MISMATCH",
                                    "the log does not reproduce the latest signed checkpoint",
                                    None, None, None, f"size {latest.size} root {bytes(latest.root).hex()}",
                                    f"size {report.leaves} root {root.hex()}"))
                return
        if older_note is not None:
            # Step 5.6: an older checkpoint given with --checkpoint is consistent with the current tree.
            try:
                if trusted is None:
                    report.notes.append("--checkpoint given without --trust: the old checkpoint's signature is not "
                                        "checked")
                    _, size1, root1, _ = parse_checkpoint_body(parse_note(older_note).body)
                else:
                    old = verify_checkpoint(older_note, trusted.log_keys)
                    size1, root1 = old.size, old.root
            except VerificationError as e:
                report.fail(Failure("5.6", e.code, f"the --checkpoint note is refused at step {e.step}: {e.message}",
                                    None, None, None, e.expected, e.actual))
                return
            _check_extends(conn, store, report, size1, Digest(root1), root, "5.6", "an older checkpoint")


def _check_extends(conn: Connection, store: MerkleStore, report: VerificationReport, size1: int, root1: Digest,
                   root: bytes, step: str, what: str) -> None:
    """Steps 5.6 and 5.8: the current tree (``report.leaves``, ``root``) extends (size1, root1)."""
    if size1 > report.leaves:
        report.fail(Failure(step, "E_TRUNCATED", f"the log is shorter than {what}",
                            None, None, None, f"size >= {size1}", f"size {report.leaves}"))
        return
    try:
        proof = store.consistency_proof(conn, size1, report.leaves)
        merkle.verify_consistency(size1, report.leaves, proof, root1, root)
    except VerificationError as e:
        report.fail(Failure(step, "E_INCONSISTENT", f"the log is not an extension of {what}",
                            None, None, None, e.expected, e.actual))


def compare_remembered(engine: Engine, store: MerkleStore, report: VerificationReport, trusted: TrustPolicy,
                       remembered: str) -> None:
    """Step 5.8: the checkpoint remembered from the last intact run verifies and the log extends it."""
    root = bytes.fromhex(report.root or merkle.root_of([]).hex())
    # Step 5.8: the checkpoint remembered from the verifier's last intact run (--state) verifies
    # under the trusted keys and is consistent with the current tree (as in 5.6).
    try:
        old = verify_checkpoint(remembered, trusted.log_keys)
    except VerificationError as e:
        report.fail(Failure("5.8", e.code, f"the remembered checkpoint is refused at step {e.step}: {e.message}",
                            None, None, None, e.expected, e.actual))
        return
    report.remembered_size = old.size
    with engine.connect() as conn:
        _check_extends(conn, store, report, old.size, old.root, root, "5.8",
                       "the checkpoint remembered from the last intact run (rollback)")
    if report.failure is None and (report.checkpoint_note is None or report.checkpoint_size is None
                                   or report.checkpoint_size < old.size):
        report.checkpoint_note = old.note  # never move the memory backwards


def save_state(state: str, report: VerificationReport) -> bool:
    """After an intact run, remember its latest verified checkpoint in ``state`` (step 5.8).

    Writes atomically (a temporary file, then a rename). Returns False, writing nothing, when
    the run failed or there is no verified checkpoint to remember.
    """
    if not report.ok or report.checkpoint_note is None:
        return False
    path = Path(state)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(report.checkpoint_note)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
