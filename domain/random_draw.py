r"""双随机 random selection that anyone can verify (R14).

A draw happens in two signed steps, so that nobody can pick the pool after seeing
the seed, nor the seed after seeing the pool:

1. ``random_draw.pool_committed.v1`` commits the pool: the list of candidate
   enterprises (USCCs) or inspectors (certificate numbers), its :func:`compute_pool_hash`
   and the *source* the public seed will come from (e.g. "上证综指 2025-09-01 收盘点位",
   a drand round number).
2. ``random_draw.performed.v1`` takes the committed pool hash and the public seed, and
   records the selection, which is a pure function of (pool, seed, count):
   :func:`compute_selection`.  A pool hash other than the committed one is refused
   (``E_RANDOM_POOL_MISMATCH``), and the seed must be revealed after the commitment.

The algorithm (``caseledger.draw.sha256-ctr.v1``), small enough to recompute by hand
in any language:

* the pool is canonicalised: the members sorted by their UTF-8 bytes (duplicates,
  blanks and members containing a newline are refused);
* ``pool_hash = "sha256:" + hex(SHA-256("caseledger.draw.pool.v1\n" ‖ join("\n", pool)))``;
* ``key = SHA-256("caseledger.draw.v1" ‖ 0x00 ‖ pool_hash ‖ 0x00 ‖ seed)`` (UTF-8);
* member ``i`` (0-based, canonical order) scores ``SHA-256(key ‖ uint64_be(i))``
  (SHA-256 in counter mode);
* the selection is the ``count`` members with the smallest scores (ties broken by the
  member), in that order.

:func:`verify_draw` recomputes a recorded draw and raises unless pool, seed and
selection all agree.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import (
    CopyOnWrite,
    check_time_not_before,
    freeze,
    natural_id,
    require,
    require_order,
    require_text,
    str_tuple,
)
from domain.calendar import to_micros
from domain.errors import RuleViolation
from domain.uscc import validate_uscc

ALGORITHM = "caseledger.draw.sha256-ctr.v1"
POOL_DOMAIN = b"caseledger.draw.pool.v1\n"
KEY_DOMAIN = b"caseledger.draw.v1"
PURPOSES = frozenset({"targets", "inspectors"})
#: Bound on a pool committed inside its entry (48 KiB body limit).
MAX_POOL = 2000
#: Bound on a pool committed by hash (issue 18): the canonical list is a content-addressed blob.
MAX_POOL_BY_HASH = 1_000_000


def canonical_pool(pool: Iterable[str]) -> tuple[str, ...]:
    """The pool sorted by UTF-8 bytes; refuses blanks, newlines and duplicates."""
    members = str_tuple(pool)
    for m in members:
        require(
            bool(m.strip()) and "\n" not in m and m == m.strip(),
            "E_RANDOM_POOL_INVALID",
            f"pool member {m!r} is blank, padded or contains a newline",
        )
    require(len(set(members)) == len(members), "E_RANDOM_POOL_INVALID", "the pool lists a member twice")
    return tuple(sorted(members, key=lambda m: m.encode("utf-8")))


def compute_pool_hash(pool: Iterable[str]) -> str:
    """``sha256:<hex>`` of the canonical pool (see the module docstring)."""
    return _hash_canonical(canonical_pool(pool))


def _hash_canonical(members: Sequence[str]) -> str:
    return "sha256:" + hashlib.sha256(POOL_DOMAIN + "\n".join(members).encode("utf-8")).hexdigest()


def pool_blob_bytes(members: Sequence[str]) -> bytes:
    """The pool blob of a pool committed by hash: the canonical members joined by newlines (UTF-8);
    the pool hash is SHA-256 of ``POOL_DOMAIN`` followed by exactly these bytes."""
    return "\n".join(members).encode("utf-8")


def pool_from_blob(data: bytes) -> tuple[str, ...]:
    """The members of a pool blob; ``E_RANDOM_POOL_INVALID`` unless it is a canonical pool."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RuleViolation("E_RANDOM_POOL_INVALID", "the pool blob is not UTF-8 text") from None
    members = tuple(text.split("\n")) if text else ()
    require(canonical_pool(members) == members, "E_RANDOM_POOL_INVALID",
            "the pool blob must list the members sorted by their UTF-8 bytes, one per line, no final newline")
    return members


def draw_key(pool_hash: str, seed: str) -> bytes:
    """The counter-mode key bound to the pool hash and the public seed."""
    return hashlib.sha256(KEY_DOMAIN + b"\x00" + pool_hash.encode() + b"\x00" + seed.encode("utf-8")).digest()


def compute_selection(pool: Iterable[str], seed: str, count: int) -> tuple[str, ...]:
    """The ``count`` members drawn from ``pool`` with ``seed``, in rank order."""
    members = canonical_pool(pool)
    require(
        isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= len(members),
        "E_RANDOM_POOL_INVALID",
        f"cannot draw {count!r} from a pool of {len(members)}",
    )
    key = draw_key(_hash_canonical(members), seed)
    # The ``count`` smallest (score, member) pairs: the same as sorting all of them and taking the
    # first ``count``, without sorting a pool of a million.
    scored = heapq.nsmallest(
        count, ((hashlib.sha256(key + i.to_bytes(8, "big")).digest(), m) for i, m in enumerate(members)),
    )
    return tuple(m for _, m in scored)


@dataclass(frozen=True, slots=True)
class VerifiedDraw:
    """A draw whose selection was recomputed from its pool and seed."""

    pool_hash: str
    seed: str
    selected: tuple[str, ...]


def verify_draw(
    *, pool: Sequence[str], seed: str, count: int, selected: Sequence[str], pool_hash: str,
) -> VerifiedDraw:
    """Recompute a recorded draw (an auditor's check).

    Preconditions: ``pool`` is the committed pool, ``pool_hash`` and ``selected`` the
    recorded values.  Raises ``RuleViolation(E_RANDOM_POOL_MISMATCH)`` if the pool does
    not hash to ``pool_hash`` and ``RuleViolation(E_RANDOM_DRAW_MISMATCH)`` if the
    recomputed selection differs.
    """
    actual_hash = compute_pool_hash(pool)
    if actual_hash != pool_hash:
        raise RuleViolation("E_RANDOM_POOL_MISMATCH", "the pool does not hash to the committed pool hash",
                            expected=pool_hash, actual=actual_hash)
    expected = compute_selection(pool, seed, count)
    if tuple(selected) != expected:
        raise RuleViolation("E_RANDOM_DRAW_MISMATCH", "the recorded selection is not the draw of (pool, seed)",
                            expected=list(expected), actual=list(selected))
    return VerifiedDraw(pool_hash, seed, expected)


class RandomDraw(CopyOnWrite, Aggregate):
    """One 双随机 draw of an agency: committed pool, then public seed and selection."""

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        agency_code: str
        draw_no: str
        purpose: str
        pool: tuple[str, ...]
        pool_blob: str | None
        pool_hash: str
        committed_at: int
        seed: str | None
        count: int
        selected: tuple[str, ...]

    class PoolCommitted(Event, Aggregate.Created):
        """The pool and where the seed will come from, committed before the seed is known."""

        TYPE: ClassVar[str] = "random_draw.pool_committed.v1"
        agency_code: str
        draw_no: str
        purpose: str
        pool: tuple[str, ...]
        pool_hash: str
        pool_size: int
        seed_source: str
        algorithm: str

        def apply(self, agg: RandomDraw) -> None:
            agg.agency_code = self.agency_code
            agg.draw_no = self.draw_no
            agg.purpose = self.purpose
            agg.pool = freeze(self.pool)
            agg.pool_blob = None
            agg.pool_hash = self.pool_hash
            agg.committed_at = to_micros(self.timestamp)
            agg.seed = None
            agg.count = 0
            agg.selected = ()

    class PoolCommittedByHash(Event, Aggregate.Created):
        """A pool of up to 1,000,000 members committed by its hash (issue 18): the canonical list
        is the content-addressed blob ``pool_blob`` (SHA-256 of :func:`pool_blob_bytes`), kept and
        exported beside the draw so anyone can recompute the selection."""

        TYPE: ClassVar[str] = "random_draw.pool_committed_by_hash.v1"
        agency_code: str
        draw_no: str
        purpose: str
        pool_hash: str
        pool_size: int
        pool_blob: str
        seed_source: str
        algorithm: str

        def apply(self, agg: RandomDraw) -> None:
            agg.agency_code = self.agency_code
            agg.draw_no = self.draw_no
            agg.purpose = self.purpose
            agg.pool = ()
            agg.pool_blob = self.pool_blob
            agg.pool_hash = self.pool_hash
            agg.committed_at = to_micros(self.timestamp)
            agg.seed = None
            agg.count = 0
            agg.selected = ()

    class Performed(Event):
        """The draw: committed pool hash + public seed → selection (recomputable)."""

        TYPE: ClassVar[str] = "random_draw.performed.v1"
        pool_hash: str
        seed: str
        count: int
        selected: tuple[str, ...]
        algorithm: str

        def apply(self, agg: RandomDraw) -> None:
            agg.seed = self.seed
            agg.count = self.count
            agg.selected = freeze(self.selected)

    @staticmethod
    def id_for(agency_code: str, draw_no: str) -> UUID:
        return natural_id("random_draw", agency_code, draw_no)

    @staticmethod
    def ref_for(agency_code: str, draw_no: str) -> str:
        """The reference a dispatch records (``<agency code>/<draw no>``)."""
        return f"{agency_code}/{draw_no}"

    @property
    def ref(self) -> str:
        return self.ref_for(self.agency_code, self.draw_no)

    @property
    def performed(self) -> bool:
        return self.seed is not None

    @classmethod
    def commit_pool(
        cls,
        *,
        agency_code: str,
        draw_no: str,
        purpose: str,
        pool: Iterable[str],
        seed_source: str,
        at: datetime,
        actor: str,
    ) -> RandomDraw:
        """R14 step 1: commit the pool (targets are USCCs, inspectors certificate numbers)."""
        validate_uscc(agency_code)
        require_text(draw_no, "draw_no")
        require(purpose in PURPOSES, "E_RANDOM_POOL_INVALID", f"purpose must be one of {sorted(PURPOSES)}")
        require_text(seed_source, "seed_source")
        members = canonical_pool(pool)
        require(0 < len(members) <= MAX_POOL, "E_RANDOM_POOL_INVALID",
                f"a pool has 1..{MAX_POOL} members, got {len(members)}")
        if purpose == "targets":
            for m in members:
                validate_uscc(m)
        check_time_not_before(at, None)
        return cls._create(
            cls.PoolCommitted,
            id=cls.id_for(agency_code, draw_no),
            timestamp=at,
            actor=actor,
            agency_code=agency_code,
            draw_no=draw_no,
            purpose=purpose,
            pool=members,
            pool_hash=compute_pool_hash(members),
            pool_size=len(members),
            seed_source=seed_source,
            algorithm=ALGORITHM,
        )

    @classmethod
    def commit_pool_by_hash(
        cls,
        *,
        agency_code: str,
        draw_no: str,
        purpose: str,
        pool: Sequence[str],
        seed_source: str,
        at: datetime,
        actor: str,
    ) -> RandomDraw:
        """R14 step 1 for a large pool (issue 18): ``pool`` is the canonical list read from its blob
        (:func:`pool_from_blob`); the entry records its hash, size and blob digest, not the list."""
        validate_uscc(agency_code)
        require_text(draw_no, "draw_no")
        require(purpose in PURPOSES, "E_RANDOM_POOL_INVALID", f"purpose must be one of {sorted(PURPOSES)}")
        require_text(seed_source, "seed_source")
        members = tuple(pool)
        require(0 < len(members) <= MAX_POOL_BY_HASH, "E_RANDOM_POOL_INVALID",
                f"a pool committed by hash has 1..{MAX_POOL_BY_HASH} members, got {len(members)}")
        require(canonical_pool(members) == members, "E_RANDOM_POOL_INVALID",
                "a pool committed by hash is given in canonical order (sorted by UTF-8 bytes)")
        if purpose == "targets":
            for m in members:
                validate_uscc(m)
        check_time_not_before(at, None)
        blob = pool_blob_bytes(members)
        return cls._create(
            cls.PoolCommittedByHash,
            id=cls.id_for(agency_code, draw_no),
            timestamp=at,
            actor=actor,
            agency_code=agency_code,
            draw_no=draw_no,
            purpose=purpose,
            pool_hash="sha256:" + hashlib.sha256(POOL_DOMAIN + blob).hexdigest(),
            pool_size=len(members),
            pool_blob=hashlib.sha256(blob).hexdigest(),
            seed_source=seed_source,
            algorithm=ALGORITHM,
        )

    def _members(self, pool: Sequence[str] | None) -> tuple[str, ...]:
        """The committed members: recorded in the entry, or (by hash) ``pool``, which must hash to it."""
        if self.pool_blob is None:
            return self.pool
        require(pool is not None, "E_RANDOM_POOL_MISMATCH",
                f"draw {self.draw_no} was committed by hash: give its pool (blob {self.pool_blob})")
        assert pool is not None
        actual = compute_pool_hash(pool)
        require(actual == self.pool_hash, "E_RANDOM_POOL_MISMATCH", "the pool does not hash to the committed pool",
                expected=self.pool_hash, actual=actual)
        return canonical_pool(pool)

    def perform(
        self, *, pool_hash: str, seed: str, count: int, at: datetime, actor: str, pool: Sequence[str] | None = None,
    ) -> tuple[str, ...]:
        """R14 step 2: draw with the committed pool hash and the public seed (and, for a pool
        committed by hash, the pool read from its blob)."""
        check_time_not_before(at, self.modified_on)
        require_order(not self.performed, f"draw {self.draw_no} was already performed")
        require(
            pool_hash == self.pool_hash,
            "E_RANDOM_POOL_MISMATCH",
            "the pool hash does not match the committed pool",
            expected=self.pool_hash,
            actual=pool_hash,
        )
        require_order(
            to_micros(at) > self.committed_at,
            "the seed is revealed after the pool was committed",
        )
        require_text(seed, "seed")
        selected = compute_selection(self._members(pool), seed, count)
        self.trigger_event(
            self.Performed,
            timestamp=at,
            actor=actor,
            pool_hash=pool_hash,
            seed=seed,
            count=count,
            selected=selected,
            algorithm=ALGORITHM,
        )
        return selected

    def verify(self, pool: Sequence[str] | None = None) -> VerifiedDraw:
        """Recompute this draw from its recorded pool (or, committed by hash, ``pool``) and seed
        (see :func:`verify_draw`)."""
        require_order(self.performed, "the draw was not performed")
        assert self.seed is not None
        members = self.pool if self.pool_blob is None else tuple(pool or ())
        return verify_draw(pool=members, seed=self.seed, count=self.count, selected=self.selected,
                           pool_hash=self.pool_hash)

    def check_selected(self, members: Iterable[str], *, purpose: str, agency_code: str) -> None:
        """R14 at dispatch: a performed draw of this agency that selected ``members``."""
        require(self.performed, "E_RANDOM_DRAW_MISSING", f"draw {self.ref} was committed but not performed")
        require(self.purpose == purpose, "E_RANDOM_DRAW_MISSING", f"draw {self.ref} draws {self.purpose}")
        require(self.agency_code == agency_code, "E_RANDOM_DRAW_MISSING", f"draw {self.ref} is another agency's")
        missing = sorted(set(members) - set(self.selected))
        require(not missing, "E_RANDOM_DRAW_MISSING", f"{missing} were not selected by draw {self.ref} (R14)")

    def record(self) -> dict[str, object]:
        """What a dispatch records about the draw it relied on."""
        out: dict[str, object] = {"ref": self.ref, "purpose": self.purpose, "pool_hash": self.pool_hash,
                                  "seed": self.seed, "count": self.count, "algorithm": ALGORITHM}
        if self.pool_blob is not None:
            out["pool_blob"] = self.pool_blob
        return out
