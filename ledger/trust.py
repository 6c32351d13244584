"""Trust policies: the log key, witness keys and a k-of-n witness quorum (spec 04 §Trust policy).

A verifier (``caseledger verify``, ``verify-bundle``, ``python -m ledger.bundle``) is given one
trust file. Two forms are accepted:

* the plain form (before issue 19): one signed-note verifier key per line, all of them log keys;
* the policy form: keyword lines ::

      # comments and blank lines are ignored
      log <vkey of the ledger's checkpoint key, type 0x01>
      witness <vkey of a witness's cosignature/v1 key, type 0x04> [<submission URL prefix>]
      quorum <k>

  at least one ``log`` line; ``quorum`` is required when there are ``witness`` lines and must be
  in 0..n. A checkpoint is accepted only if a log key signed it and at least k distinct listed
  witnesses cosigned it (spec 06 steps 4.6 and 4.7).

The same file, with ``witness`` lines carrying URLs, tells a ledger which witnesses to submit its
checkpoints to (api/witness_client.py). Pure: stdlib and ledger.checkpoint only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ledger.checkpoint import ALG_COSIGNATURE_V1, ALG_ED25519, NoteVerifier, VerifiedCheckpoint, verify_checkpoint
from ledger.errors import UsageError
from ledger.limits import DEFAULT_LIMITS, Limits

KEYWORDS = ("log", "witness", "quorum")


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """Who must have signed a checkpoint: one of ``log_keys`` and ``quorum`` of ``witnesses``."""

    log_keys: tuple[NoteVerifier, ...]
    witnesses: tuple[NoteVerifier, ...] = ()
    quorum: int = 0
    #: Witness name -> submission URL prefix, for witnesses listed with one.
    urls: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.log_keys:
            msg = "a trust policy needs at least one log key"
            raise UsageError(msg)
        if any(k.alg != ALG_ED25519 for k in self.log_keys):
            msg = "a log key must be a type-0x01 note key"
            raise UsageError(msg)
        if not 0 <= self.quorum <= len(self.witnesses):
            msg = f"quorum {self.quorum} cannot be met by {len(self.witnesses)} witnesses"
            raise UsageError(msg)
        if len({(w.name, w.key_id) for w in self.witnesses}) != len(self.witnesses):
            msg = "a witness key is listed twice"
            raise UsageError(msg)

    def describe(self) -> str:
        """One line: the log key names and the witness quorum."""
        logs = ", ".join(sorted({k.name for k in self.log_keys}))
        if not self.witnesses:
            return f"log key {logs}, no witnesses required"
        names = ", ".join(w.name for w in self.witnesses)
        return f"log key {logs}, {self.quorum} of {len(self.witnesses)} witnesses ({names})"

    def verify(self, note: str | bytes, *, origin: str | None = None,
               limits: Limits = DEFAULT_LIMITS) -> VerifiedCheckpoint:
        """Verify ``note`` under this policy (spec 06 steps 4.1-4.7)."""
        return verify_checkpoint(note, self.log_keys, origin=origin, witnesses=self.witnesses,
                                 witness_quorum=self.quorum, limits=limits)


def _key(text: str, lineno: int) -> NoteVerifier:
    try:
        return NoteVerifier.parse(text)
    except UsageError as e:
        msg = f"line {lineno}: {e}"
        raise UsageError(msg) from None


def parse_policy(text: str) -> TrustPolicy:
    """Parse a trust file in either form (module docstring).

    Raises:
        UsageError: naming the line: a malformed key, a witness key on a ``log`` line (or the
            reverse), an unknown keyword, a bad or missing quorum, no log key.
    """
    logs: list[NoteVerifier] = []
    witnesses: list[NoteVerifier] = []
    urls: dict[str, str] = {}
    quorum: int | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        fields = rest.split()
        if word not in KEYWORDS:  # the plain form: a bare verifier key is a log key
            k = _key(line, lineno)
            if k.alg != ALG_ED25519:
                msg = f"line {lineno}: a bare key must be a type-0x01 log key; write `witness <vkey>` for a witness"
                raise UsageError(msg)
            logs.append(k)
        elif word == "log" and len(fields) == 1:
            k = _key(fields[0], lineno)
            if k.alg != ALG_ED25519:
                msg = f"line {lineno}: a log key must be a type-0x01 note key, not type 0x{k.alg:02x}"
                raise UsageError(msg)
            logs.append(k)
        elif word == "witness" and len(fields) in (1, 2):
            k = _key(fields[0], lineno)
            if k.alg != ALG_COSIGNATURE_V1:
                msg = f"line {lineno}: a witness key must be a type-0x04 cosignature/v1 key, not type 0x{k.alg:02x}"
                raise UsageError(msg)
            witnesses.append(k)
            if len(fields) == 2:  # noqa: PLR2004 - key and URL
                urls[k.name] = fields[1].rstrip("/")
        elif word == "quorum" and len(fields) == 1 and fields[0].isdigit() and quorum is None:
            quorum = int(fields[0])
        else:
            msg = f"line {lineno}: expected `log <vkey>`, `witness <vkey> [<url>]` or one `quorum <k>`: {line!r}"
            raise UsageError(msg)
    if witnesses and quorum is None:
        msg = "the trust file lists witnesses but no `quorum <k>` line"
        raise UsageError(msg)
    return TrustPolicy(tuple(logs), tuple(witnesses), quorum or 0, urls)


def witness_endpoints(text: str) -> list[tuple[NoteVerifier, str]]:
    """The ``witness <vkey> <url>`` lines of a trust file: whom a ledger submits its checkpoints to.

    ``log`` and ``quorum`` lines are skipped, so one file can serve the ledger and its verifiers.

    Raises:
        UsageError: a malformed line, or a witness listed without a URL.
    """
    out: list[tuple[NoteVerifier, str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#") or fields[0] in ("log", "quorum"):
            continue
        if fields[0] != "witness" or len(fields) != 3 or not fields[2].startswith(("http://", "https://")):  # noqa: PLR2004
            msg = f"line {lineno}: expected `witness <vkey> <http(s) URL prefix>`: {raw.strip()!r}"
            raise UsageError(msg)
        k = _key(fields[1], lineno)
        if k.alg != ALG_COSIGNATURE_V1:
            msg = f"line {lineno}: a witness key must be a type-0x04 cosignature/v1 key"
            raise UsageError(msg)
        out.append((k, fields[2].rstrip("/")))
    return out


def as_policy(trusted: TrustPolicy | Iterable[NoteVerifier | str]) -> TrustPolicy:
    """A policy as is; a list of log keys (vkey text or verifiers) as a policy without witnesses."""
    if isinstance(trusted, TrustPolicy):
        return trusted
    return TrustPolicy(tuple(k if isinstance(k, NoteVerifier) else NoteVerifier.parse(k) for k in trusted))


__all__ = ["TrustPolicy", "as_policy", "parse_policy", "witness_endpoints"]
