"""The write path: an eventsourcing Application whose every saved event is a signed, chained entry.

``LedgerApplication.save`` turns pending domain events into canonical entries (codec), links each
to its predecessor in the case (``prev``), checks the signing key against the key registry at the
event's ``occurred_at``, signs (custodial) or checks the client's signature, and inserts the
records; the recorder appends the Merkle leaves in the same transaction. If any check fails,
nothing is written.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent, Repository
from eventsourcing.persistence import IntegrityError, Mapper, PersistenceError, Recording, StoredEvent
from eventsourcing.persistence import Notification as ESNotification
from nacl.signing import SigningKey

from domain.text import check_entry_text
from ledger.cache import SharingRepository
from ledger.calendar_register import CalendarCommands
from ledger.chain import Entry, decode_entry, decode_record, encode_entry, encode_record, expected_prev
from ledger.codec import EventCodec, to_micros
from ledger.enforcement import EnforcementCommands
from ledger.errors import ConflictError, KeyRegistryError, SignatureError, StorageError, TimestampInvalid, UsageError
from ledger.group_commit import GroupCommitter, Pending
from ledger.hashing import Digest, KeyId, entry_hash, key_id
from ledger.keyring import KEY_EVENT_TYPES, KeyRegistry
from ledger.keys import KEY_REGISTRY_ID, ROOT_ROLE, KeyRing
from ledger.limits import DEFAULT_LIMITS, Limits
from ledger.notify import channel_for
from ledger.signers import Signer
from ledger.signing import ENTRY_CONTEXT, check_signature
from ledger.store import EntryMapper, LedgerRecorder

_HEAD_CACHE_MAX = 100_000


class LedgerApplication(CalendarCommands, EnforcementCommands, Application[UUID]):
    """Signed, hash-chained event store. Build it with ``api.bootstrap.bootstrap``."""

    name = "Ledger"

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        event_types: Mapping[str, type[Any]],
        signer: Signer,
        clock: Callable[[], int],
        limits: Limits = DEFAULT_LIMITS,
        merkle: Any = None,
        metadata: Any = None,
        calendar: Any = None,
        prepare: Callable[[Any], None] | None = None,
    ) -> None:
        self._prepare = prepare  # called with the engine before the first read (the schema gate, ADR 0006)
        self.codec = EventCodec({**KEY_EVENT_TYPES, **event_types})
        self.signer = signer
        self.clock = clock
        self.limits = limits
        self.package_calendar = calendar
        self._merkle = merkle
        self._metadata = metadata
        self._heads: dict[str, tuple[int, Digest]] = {}
        super().__init__(env=dict(env))
        # Group commit (ADR 0008): concurrent saves of this process share one append transaction.
        max_batch = _max_batch(self.env.get("GROUP_COMMIT_MAX_BATCH", "64"))
        self._committer = (GroupCommitter(self.recorder.insert_batch, max_batch=max_batch)
                           if isinstance(self.recorder, LedgerRecorder) and max_batch > 1 else None)
        self.keyring = self._load_keyring()

    # --- wiring -------------------------------------------------------------------------
    def construct_mapper(self) -> Mapper[UUID]:
        """The mapper that turns domain events into signed canonical records and back."""
        return EntryMapper(self.codec)

    def construct_repository(self) -> Repository[UUID]:
        """Eventsourcing's repository, handing out shallow copies of cached aggregates (ledger/cache.py)."""
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return SharingRepository(event_store=self.events, snapshot_store=self.snapshots,
                                 cache_maxsize=int(maxsize) if maxsize else None,
                                 fastforward=True)

    def construct_recorder(self) -> Any:
        """The recorder, with the Merkle log attached when the store is ours."""
        recorder = self.factory.application_recorder()
        if isinstance(recorder, LedgerRecorder) and self._merkle is not None:
            recorder.attach(self._merkle, self._metadata, self.clock)
            if self.env.get("CREATE_TABLE", "y").lower() in {"y", "yes", "t", "true", "on", "1"}:
                recorder.create_table()
        if self._prepare is not None:
            self._prepare(recorder.datastore.engine)  # type: ignore[attr-defined]
        if isinstance(recorder, LedgerRecorder):  # one NOTIFY channel per schema (ledger/notify.py)
            recorder.channel_name = channel_for(recorder.datastore.engine)  # type: ignore[arg-type]
        return recorder

    # --- key registry -----------------------------------------------------------------
    def _load_keyring(self) -> KeyRing:
        ring = KeyRing()
        for se in self.recorder.select_events(UUID(KEY_REGISTRY_ID)):
            data, _ = decode_record(se.state)
            e = decode_entry(data, limits=self.limits)
            ring.apply(e.type, e.body)
        return ring

    def refresh_keys(self) -> None:
        """Reload the key registry (another process may have changed it)."""
        self.keyring = self._load_keyring()

    def open_ledger(self, root_key: SigningKey, *, principal: str, at: datetime) -> KeyRegistry:
        """Write the key registry's genesis entry: the root key registering itself."""
        reg = KeyRegistry.open(actor=principal, at=at, key=key_body(root_key, principal, ROOT_ROLE, "custodial",
                                                                    to_micros(at)))
        self.save(reg)
        return reg

    def key_registry(self) -> KeyRegistry:
        """The key registry aggregate."""
        return self.repository.get(UUID(KEY_REGISTRY_ID))  # type: ignore[no-any-return]

    # --- reading raw entries ------------------------------------------------------------
    def case_records(self, case_id: UUID | str) -> Iterator[tuple[Entry, bytes, bytes]]:
        """(entry, entry bytes, signature) of one case in order of ``n``."""
        for se in self.recorder.select_events(UUID(str(case_id))):
            data, sig = decode_record(se.state)
            yield decode_entry(data, limits=self.limits), data, sig

    def _head(self, case: str, n: int) -> Digest:
        """Hash of entry ``n`` of ``case`` (the ``prev`` of entry n+1)."""
        cached = self._heads.get(case)
        if cached is not None and cached[0] == n:
            return cached[1]
        rows = self.recorder.select_events(UUID(case), gt=n - 1, lte=n)
        if not rows:
            msg = f"case {case} has no entry {n}; reload the aggregate and retry"
            raise ConflictError(msg)
        data, _ = decode_record(rows[0].state)
        return entry_hash(data)

    # --- the write path -------------------------------------------------------------------
    def _entries(self, events: list[Any], signer: Signer) -> list[tuple[Any, Entry, bytes, Digest]]:
        """Build each pending event's canonical entry, chained to its predecessor (unsigned)."""
        heads: dict[str, Digest] = {}
        out = []
        for ev in events:
            case, n = str(ev.originator_id), ev.originator_version
            prev = heads.get(case) or expected_prev(case, n, None if n == 1 else self._head(case, n - 1))
            # Step 2.1: a registered wire type and a canonical body within the limits.
            entry = self.codec.to_entry(ev, key=signer.key_for(ev.actor), prev=prev)
            # Step 2.1 (text): no control, lone-surrogate or (in identifiers) bidi/format characters.
            check_entry_text(entry.actor, entry.body)
            data = encode_entry(entry, limits=self.limits)
            heads[case] = entry_hash(data)
            out.append((ev, entry, data, heads[case]))
        return out

    def preview(self, *aggregates: Any, key: bytes) -> list[bytes]:
        """Client-signed mode, step 1: the entry bytes that saving these aggregates would append.

        The client signs each entry's hash and sends the bytes and signatures back with the same
        command (``ledger.signers.ClientSignatures``). Nothing is written.
        """
        events = [e for a in aggregates for e in a._pending_events]  # noqa: SLF001
        actors = {e.actor for e in events}

        class _Key:
            untrusted = True

            def key_for(self, actor: str) -> bytes:  # noqa: ARG002 - the Signer protocol's signature
                return key

        if len(actors) > 1:
            msg = "a client-signed save must have a single actor"
            raise KeyRegistryError(msg, code="E_KEY_WRONG_ACTOR")
        built = self._entries(events, _Key())  # type: ignore[arg-type]
        now = self.clock()
        for _, entry, _, _ in built:
            self.check_occurred_at(entry.occurred_at, now)
        return [data for _, _, data, _ in built]

    def check_occurred_at(self, occurred_at: int, now: int) -> None:
        """Step 2.1 (time): ``occurred_at`` is in the accepted years and at most the allowed skew ahead of ``now``.

        ``now`` is this application's clock (``clock``), never the wall clock, so a test's fixed
        clock decides what "the future" is. ``TimestampInvalid`` otherwise; nothing is written.
        """
        lim = self.limits
        lo = to_micros(datetime(lim.min_year, 1, 1, tzinfo=UTC))
        hi = to_micros(datetime(lim.max_year + 1, 1, 1, tzinfo=UTC))
        if not lo <= occurred_at < hi:
            msg = f"occurred_at must fall in the years {lim.min_year}..{lim.max_year} (UTC)"
            raise TimestampInvalid(msg, code="E_TIMESTAMP_RANGE")
        if occurred_at > now + lim.max_future_skew_us:
            ahead = (occurred_at - now) // 1_000_000
            msg = (f"occurred_at is {ahead} s ahead of the ledger's clock; at most "
                   f"{lim.max_future_skew_us // 1_000_000} s of clock skew is accepted")
            raise TimestampInvalid(msg, code="E_FUTURE_TIMESTAMP")

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        events = list(processing_event.events)
        ring = self.keyring
        pending_ring: KeyRing | None = None
        stored: list[StoredEvent] = []
        leaf_inputs: list[tuple[bytes, bytes]] = []
        built = self._entries(events, self.signer)
        now = self.clock()
        for _, entry, _, _ in built:
            self.check_occurred_at(entry.occurred_at, now)
        for ev, entry, data, ehash in built:
            kid, case = entry.key, entry.case
            if case == KEY_REGISTRY_ID:
                if pending_ring is None:
                    pending_ring = copy.deepcopy(ring)
                    ring = pending_ring
                ring.authorise_registry_entry(entry.n, kid, entry.actor, entry.occurred_at, entry.type, entry.body)
                ring.apply(entry.type, entry.body)
                rec = ring.get(kid)
            else:
                # Step 2.2: the key is valid for the actor at occurred_at and not revoked now.
                rec = ring.check(kid, entry.actor, entry.occurred_at)
            # A revoked key signs nothing new, whatever occurred_at it claims (no back-dating).
            if rec is not None and rec.revoked_at is not None and rec.revoked_at <= now:
                msg = f"key of {entry.actor} is revoked"
                raise KeyRegistryError(msg, code="E_KEY_REVOKED")
            sig = self.signer.sign(KeyId(kid), ehash)
            if self.signer.untrusted:
                # Step 2.3: a client's signature verifies under the registered key.
                assert rec is not None
                if not check_signature(rec.public_key, ENTRY_CONTEXT, ehash, sig):
                    raise SignatureError("2.3", "signature does not verify under the registered key",
                                         expected=kid.hex(), actual=bytes(sig).hex())
            stored.append(StoredEvent(originator_id=ev.originator_id, originator_version=entry.n,
                                      topic=entry.type, state=encode_record(data, sig)))
            leaf_inputs.append((ehash, sig))
        # Step 2.4: no other entry exists at (case, n); the store's unique index decides races.
        try:
            kw = processing_event.saved_kwargs
            ids: Sequence[int] | None
            if self._committer is not None and processing_event.tracking is None and stored and set(kw) <= {"also"}:
                ids = self._committer.submit(Pending(stored, leaf_inputs, also=kw.get("also")))
            else:
                extra = {"leaf_inputs": leaf_inputs} if isinstance(self.recorder, LedgerRecorder) else {}
                ids = self.recorder.insert_events(stored, tracking=processing_event.tracking,
                                                  **extra, **processing_event.saved_kwargs)
        except IntegrityError as e:
            msg = "another writer appended to this case first; reload and retry"
            raise ConflictError(msg) from e
        except PersistenceError as e:
            raise StorageError(str(e)) from e
        if pending_ring is not None:
            self.keyring = pending_ring
        if len(self._heads) > _HEAD_CACHE_MAX:
            self._heads.clear()
        for _, entry, _, ehash in built:
            self._heads[entry.case] = (entry.n, ehash)
        recordings = [
            Recording(ev, ESNotification(id=nid, originator_id=s.originator_id,
                                          originator_version=s.originator_version, topic=s.topic, state=s.state))
            for ev, s, nid in zip(events, stored, ids or [0] * len(stored), strict=True)
        ]
        if self.repository.cache and not self.repository.fastforward:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        return recordings


def _max_batch(value: str) -> int:
    """``GROUP_COMMIT_MAX_BATCH``: a whole number from 1 (no batching) to 10,000."""
    if not value.strip().isdigit() or not 1 <= int(value) <= 10_000:  # noqa: PLR2004
        msg = f"GROUP_COMMIT_MAX_BATCH must be a whole number from 1 to 10000, not {value!r}"
        raise UsageError(msg)
    return int(value)


def key_body(sk: SigningKey, principal: str, role: str, mode: str, valid_from: int,
             valid_until: int | None = None) -> dict[str, Any]:
    """The registration fields for ``sk`` (also used by key rotation)."""
    pub = bytes(sk.verify_key)
    return {"key_id": key_id(pub), "public_key": pub, "principal": principal, "role": role,
            "mode": mode, "valid_from": valid_from, "valid_until": valid_until}


def public_key_body(pub: bytes, principal: str, role: str, mode: str, valid_from: int,
                    valid_until: int | None = None) -> dict[str, Any]:
    """The registry body for an Ed25519 public key; ``KeyRegistryError`` unless it is 32 bytes."""
    if len(pub) != 32:  # noqa: PLR2004
        msg = "an Ed25519 public key is 32 bytes"
        raise KeyRegistryError(msg, code="E_KEY_MALFORMED")
    return {"key_id": key_id(pub), "public_key": pub, "principal": principal, "role": role,
            "mode": mode, "valid_from": valid_from, "valid_until": valid_until}
