"""Errors raised by the ledger.

    LedgerError
    ├── EncodingError            bytes are not canonical, too large, or of an unknown type
    │   └── TimestampInvalid     E_FUTURE_TIMESTAMP: occurred_at too far ahead of the ledger's clock;
    │                            E_TIMESTAMP_RANGE: outside the years the ledger accepts
    ├── KeyError_                (named KeyRegistryError) unknown, revoked or out-of-validity key
    ├── VerificationError        carries step, expected, actual
    │   ├── SignatureError
    │   ├── ChainBreakError
    │   ├── ProofError
    │   ├── CheckpointError      a malformed signed note or checkpoint, wrong origin, no quorum
    │   └── EquivocationError    two valid signed checkpoints that conflict
    ├── ConflictError            a writer lost the race for (case, n)
    └── StorageError             wraps eventsourcing's PersistenceError and driver errors
    UsageError(RuntimeError)     caller misuse

Every error has a stable ``code`` string (``E_…``) that the API and CLI surface.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every ledger error."""

    code = "E_LEDGER"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.args[0]) if self.args else ""


class EncodingError(LedgerError):
    """Bytes are not in canonical form, exceed a limit, or name an unknown type."""

    code = "E_ENCODING"


class TimestampInvalid(EncodingError):
    """A new entry's ``occurred_at`` lies too far in the future or outside the accepted years."""

    code = "E_FUTURE_TIMESTAMP"


class KeyRegistryError(LedgerError):
    """A key is unknown, revoked, not valid at the entry's time, or not the actor's."""

    code = "E_KEY_UNKNOWN"


class ConflictError(LedgerError):
    """Another writer appended to the same case first; reload and retry."""

    code = "E_CONFLICT"


class StorageError(LedgerError):
    """The store failed (connection, driver, schema)."""

    code = "E_STORAGE"


class VerificationError(LedgerError):
    """A verification step failed. ``step`` cites docs/spec/06-verification.md."""

    code = "E_VERIFY"

    def __init__(
        self,
        step: str,
        message: str,
        *,
        expected: object = None,
        actual: object = None,
        code: str | None = None,
    ) -> None:
        super().__init__(f"step {step}: {message}", code=code)
        self.step = step
        self.expected = expected
        self.actual = actual


class SignatureError(VerificationError):
    """An Ed25519 signature does not verify."""
    code = "E_SIGNATURE"


class ChainBreakError(VerificationError):
    """An entry's number or prev link does not follow its predecessor."""
    code = "E_CHAIN_BREAK"


class ProofError(VerificationError):
    """An inclusion or consistency proof does not verify or has the wrong length."""
    code = "E_PROOF"


class CheckpointError(VerificationError):
    """A signed note or checkpoint body is malformed, names the wrong origin, or lacks a quorum."""

    code = "E_CHECKPOINT"


class EquivocationError(VerificationError):
    """Two validly signed checkpoints conflict."""
    code = "E_EQUIVOCATION"


class UsageError(RuntimeError):
    """The caller used an API wrongly (a programming error, not bad data)."""

    code = "E_USAGE"
