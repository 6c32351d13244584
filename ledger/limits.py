"""Bounds on untrusted input, in one place (docs/spec/00-conventions.md §Limits)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard limits every decoder and verifier enforces before doing work."""

    max_entry_bytes: int = 64 * 1024
    max_body_bytes: int = 48 * 1024
    max_depth: int = 16
    max_proof_hashes: int = 64
    max_bundle_bytes: int = 64 * 1024 * 1024
    max_bundle_entries: int = 100_000
    max_note_bytes: int = 16 * 1024
    max_note_signatures: int = 64
    #: How far a new entry's ``occurred_at`` may lie ahead of the ledger's clock (devices' clocks drift).
    max_future_skew_us: int = 5 * 60 * 1_000_000
    #: A new entry's ``occurred_at`` must fall in these years (UTC), inclusive.
    min_year: int = 2000
    max_year: int = 2199


DEFAULT_LIMITS = Limits()
