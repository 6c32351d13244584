r"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes (docs/spec/04-checkpoints.md).

A checkpoint commits to the whole log at one size::

    <origin>\n
    <size, decimal>\n
    <base64 root>\n
    [extension lines\n]
    \n
    — <key name> <base64(key id[4] ‖ Ed25519 signature[64])>\n
    ...

The ledger key signs the body bytes (everything up to and including the last body newline).
Witnesses *cosign* by adding a C2SP tlog-cosignature ``cosignature/v1`` line (key type 0x04): an
Ed25519 signature over ``cosignature/v1\ntime <t>\n`` followed by the body, carried as
``key id[4] ‖ t (8 bytes, big-endian) ‖ signature[64]`` (spec 04 §Witness cosignatures).

Verification (spec 06 steps 4.1-4.9) is strict: a malformed note is refused with the step that
failed; signatures by unknown keys are ignored as the signed-note spec requires, a failing
signature by a *known* key rejects the note, and at least one trusted log signature is needed.
Later steps accept only :class:`VerifiedCheckpoint`, which only :func:`verify_checkpoint` makes.

Pure: standard library and PyNaCl only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from ledger import merkle
from ledger.errors import (
    CheckpointError,
    EquivocationError,
    ProofError,
    SignatureError,
    UsageError,
)
from ledger.hashing import Digest
from ledger.limits import DEFAULT_LIMITS, Limits

SIG_PREFIX = "\u2014 "
"""Every signature line starts with an em dash (U+2014) and one space."""

ALG_ED25519 = 0x01
"""Signature type byte of Ed25519 note keys (C2SP signed-note)."""

ALG_COSIGNATURE_V1 = 0x04
"""Signature type byte of Ed25519 ``cosignature/v1`` witness keys (C2SP tlog-cosignature)."""

COSIGNATURE_HEADER = b"cosignature/v1\n"
"""The first line of the message a ``cosignature/v1`` signs (domain separation)."""

KEY_ID_SIZE = 4
_PUBKEY_SIZE = 32
_SIG_SIZE = 64
_TS_SIZE = 8
_MAX_SIZE = 2**63 - 1
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,18}")
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


# ---------------------------------------------------------------------------------------------
# Keys (spec 04 §Keys)
# ---------------------------------------------------------------------------------------------


def is_valid_key_name(name: str) -> bool:
    """Signed-note key names are non-empty, hold no Unicode white space and no ``+``."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name) and not _CONTROL_RE.search(name)


def note_key_id(name: str, public_key: bytes, alg: int = ALG_ED25519) -> bytes:
    """``SHA-256(name ‖ 0x0A ‖ alg ‖ public key)[:4]``: the C2SP key id of an Ed25519 note key
    (``alg`` 0x01, signed-note) or ``cosignature/v1`` witness key (``alg`` 0x04, tlog-cosignature)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()[:KEY_ID_SIZE]


def cosigned_message(body: str | bytes, timestamp: int) -> bytes:
    r"""The message a ``cosignature/v1`` signs: ``cosignature/v1\ntime <timestamp>\n`` then the body."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return COSIGNATURE_HEADER + b"time %d\n" % timestamp + raw


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A trusted Ed25519 key: name, 4-byte key id, 32-byte public key and signature type.

    ``alg`` is 0x01 for a signed-note key (the log's) or 0x04 for a C2SP ``cosignature/v1``
    witness key; the key id, the vkey text and what :meth:`check` verifies follow from it.
    """

    name: str
    key_id: bytes
    public_key: bytes
    alg: int = ALG_ED25519

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes, alg: int = ALG_ED25519) -> NoteVerifier:
        """Build a verifier, computing the key id from ``name``, ``public_key`` and ``alg``."""
        if not is_valid_key_name(name):
            msg = f"invalid note key name {name!r}"
            raise UsageError(msg)
        if len(public_key) != _PUBKEY_SIZE:
            msg = "Ed25519 public key must be 32 bytes"
            raise UsageError(msg)
        if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            msg = f"unsupported key type 0x{alg:02x} (0x01 note key or 0x04 cosignature/v1 key)"
            raise UsageError(msg)
        return cls(name, note_key_id(name, public_key, alg), bytes(public_key), alg)

    @classmethod
    def from_signing_key(cls, name: str, signing_key: SigningKey, alg: int = ALG_ED25519) -> NoteVerifier:
        """The verifier for the public half of ``signing_key``."""
        return cls.from_public_key(name, bytes(signing_key.verify_key), alg)

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<8 hex key id>+<base64(type ‖ public key)>`` and check the key id.

        The type byte is 0x01 (an Ed25519 signed-note key) or 0x04 (an Ed25519 ``cosignature/v1``
        witness key, C2SP tlog-cosignature).

        Raises:
            UsageError: the text is not a valid Ed25519 verifier key (a trust file is
                operator input, so this is a configuration error, not a verification one).
        """
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:  # noqa: PLR2004 - field counts fixed by the C2SP note format
            msg = "verifier key must be <name>+<hex key id>+<base64 key>"
            raise UsageError(msg)
        name, hex_id, b64 = parts
        if not is_valid_key_name(name) or not re.fullmatch(r"[0-9a-fA-F]{8}", hex_id):
            msg = f"invalid verifier key name or key id in {vkey!r}"
            raise UsageError(msg)
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            msg = "verifier key is not valid base64"
            raise UsageError(msg) from None
        if len(raw) != 1 + _PUBKEY_SIZE or raw[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            msg = "verifier key must be 0x01 or 0x04 followed by a 32-byte Ed25519 key"
            raise UsageError(msg)
        v = cls.from_public_key(name, raw[1:], raw[0])
        if v.key_id != bytes.fromhex(hex_id):
            msg = f"verifier key id {hex_id} does not match the key (want {v.key_id.hex()})"
            raise UsageError(msg)
        return v

    def to_vkey(self) -> str:
        """The text form ``<name>+<hex key id>+<base64(type ‖ key)>`` for trust files."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([self.alg]) + self.public_key).decode()}"

    def check(self, message: bytes, signature: bytes) -> bool:
        """True if ``signature`` (the bytes after the key id) is valid by this key over the note body
        ``message``: a plain Ed25519 signature (0x01), or for a ``cosignature/v1`` key (0x04) an
        8-byte big-endian timestamp at most 2^63 - 1 then the Ed25519 signature over
        :func:`cosigned_message`."""
        if self.alg == ALG_COSIGNATURE_V1:
            if len(signature) != _TS_SIZE + _SIG_SIZE:
                return False
            timestamp = int.from_bytes(signature[:_TS_SIZE], "big")
            if timestamp > _MAX_SIZE:
                return False
            message, signature = cosigned_message(message, timestamp), signature[_TS_SIZE:]
        if len(signature) != _SIG_SIZE:
            return False
        try:
            VerifyKey(self.public_key).verify(message, signature)
        except (BadSignatureError, ValueError):
            return False
        return True


def vkey(name: str, public_key: bytes) -> str:
    """The verifier-key text for ``name`` and a 32-byte Ed25519 public key."""
    return NoteVerifier.from_public_key(name, public_key).to_vkey()


def parse_trust_file(text: str) -> list[NoteVerifier]:
    """One verifier key per line; blank lines and lines starting with ``#`` are skipped."""
    return [NoteVerifier.parse(line) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _verifiers(keys: Iterable[NoteVerifier | str]) -> list[NoteVerifier]:
    return [k if isinstance(k, NoteVerifier) else NoteVerifier.parse(k) for k in keys]


# ---------------------------------------------------------------------------------------------
# Notes (spec 04 §Signed notes)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One parsed, *unverified* signature line."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line of a signed note, newline included."""
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"

    @property
    def timestamp(self) -> int | None:
        """The cosignature/v1 timestamp (the first 8 bytes, big-endian), if the blob has that length."""
        return int.from_bytes(self.signature[:_TS_SIZE], "big") if len(self.signature) == _TS_SIZE + _SIG_SIZE else None


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed, *unverified* note: body text (ending in a newline) and its signatures."""

    body: str
    signatures: tuple[NoteSignature, ...]

    def text(self) -> str:
        """The signed note as text: body, blank line, signature lines."""
        return self.body + "\n" + "".join(s.line() for s in self.signatures)


def _malformed(step: str, message: str, *, expected: object = None, actual: object = None) -> CheckpointError:
    return CheckpointError(step, message, expected=expected, actual=actual, code="E_CHECKPOINT_MALFORMED")


def parse_note(note: str | bytes, *, limits: Limits = DEFAULT_LIMITS) -> Note:
    """Split a signed note into body and signature lines, strictly (spec 06 steps 4.1-4.3).

    Raises:
        CheckpointError: the note is too large, not UTF-8, holds control characters, lacks
            the blank line or signatures, or has a malformed signature line.
    """
    raw = note.encode("utf-8") if isinstance(note, str) else bytes(note)
    # Step 4.1: the note is at most Limits.max_note_bytes bytes of UTF-8 text with no control
    # characters other than newline.
    if len(raw) > limits.max_note_bytes:
        raise _malformed("4.1", "note is too large", expected=f"<= {limits.max_note_bytes} bytes", actual=len(raw))
    try:
        text = raw.decode("utf-8") if isinstance(note, bytes) else note
    except UnicodeDecodeError:
        raise _malformed("4.1", "note is not valid UTF-8") from None
    bad = _CONTROL_RE.search(text)
    if bad:
        raise _malformed("4.1", "note holds a control character", expected="no control characters",
                         actual=f"U+{ord(bad.group()):04X} at {bad.start()}")
    # Step 4.2: the note is a body ending in a newline, one blank line, and signature lines
    # each ending in a newline; it is split at the last blank line.
    cut = text.rfind("\n\n")
    if cut < 0 or not text.endswith("\n"):
        raise _malformed("4.2", "note has no blank line before its signatures or does not end in a newline")
    body, sig_text = text[: cut + 1], text[cut + 2 :]
    lines = sig_text.split("\n")[:-1]
    # Step 4.3: there are 1 to Limits.max_note_signatures signature lines, each
    # "— <key name> <base64(key id ‖ signature)>".
    if not lines:
        raise _malformed("4.3", "note has no signature lines", expected=">= 1", actual=0)
    if len(lines) > limits.max_note_signatures:
        raise _malformed("4.3", "note has too many signatures",
                         expected=f"<= {limits.max_note_signatures}", actual=len(lines))
    sigs: list[NoteSignature] = []
    for i, line in enumerate(lines):
        if not line.startswith(SIG_PREFIX):
            raise _malformed("4.3", f"signature line {i + 1} does not start with an em dash and a space",
                             expected=SIG_PREFIX, actual=line[:2])
        fields = line[len(SIG_PREFIX) :].split(" ")
        if len(fields) != 2 or not is_valid_key_name(fields[0]):  # noqa: PLR2004 - field counts fixed by the C2SP note format
            raise _malformed("4.3", f"signature line {i + 1} is not '<name> <base64>'", actual=line)
        try:
            blob = base64.b64decode(fields[1], validate=True)
        except binascii.Error:
            raise _malformed("4.3", f"signature line {i + 1} is not valid base64", actual=fields[1]) from None
        if len(blob) <= KEY_ID_SIZE or base64.b64encode(blob).decode() != fields[1]:
            raise _malformed("4.3", f"signature line {i + 1} holds no signature or non-canonical base64",
                             actual=fields[1])
        sigs.append(NoteSignature(fields[0], blob[:KEY_ID_SIZE], blob[KEY_ID_SIZE:]))
    return Note(body, tuple(sigs))


def sign_note(body: str, name: str, signing_key: SigningKey) -> NoteSignature:
    """An Ed25519 signed-note signature by ``signing_key`` (named ``name``) over ``body``."""
    v = NoteVerifier.from_signing_key(name, signing_key)
    return NoteSignature(name, v.key_id, signing_key.sign(body.encode("utf-8")).signature)


def _verified_names(note: Note, keys: Sequence[NoteVerifier], step: str) -> list[str]:
    """Names of ``keys`` with a valid signature; a failing signature by a known key raises."""
    by_id = {(k.name, k.key_id): k for k in keys}
    message = note.body.encode("utf-8")
    seen: set[tuple[str, bytes]] = set()
    names: list[str] = []
    for sig in note.signatures:
        ident = (sig.name, sig.key_id)
        key = by_id.get(ident)
        if key is None or ident in seen:
            continue  # unknown keys are ignored; the first line of a known key decides
        seen.add(ident)
        if not key.check(message, sig.signature):
            raise SignatureError(step, f"signature by known key {sig.name} does not verify",
                                 expected=f"valid Ed25519 signature by {key.to_vkey()}",
                                 actual=base64.b64encode(sig.signature).decode(), code="E_CHECKPOINT_SIGNATURE")
        names.append(sig.name)
    return names


# ---------------------------------------------------------------------------------------------
# Checkpoints (spec 04 §Checkpoint body)
# ---------------------------------------------------------------------------------------------


def checkpoint_body(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    r"""The checkpoint text ``<origin>\n<size>\n<base64 root>\n[<extension>\n ...]``."""
    if not origin or _CONTROL_RE.search(origin) or "\n" in origin:
        msg = "origin must be a non-empty single line"
        raise UsageError(msg)
    if type(size) is not int or not 0 <= size <= _MAX_SIZE:
        msg = "size must be an integer in 0..2**63-1"
        raise UsageError(msg)
    if len(root) != merkle.HASH_SIZE:
        msg = "root must be 32 bytes"
        raise UsageError(msg)
    for ext in extensions:
        if not ext or "\n" in ext or _CONTROL_RE.search(ext):
            msg = "extension lines must be non-empty single lines"
            raise UsageError(msg)
    lines = [origin, str(size), base64.b64encode(root).decode(), *extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint_body(body: str) -> tuple[str, int, Digest, tuple[str, ...]]:
    """Parse a checkpoint body strictly (spec 06 step 4.4) into (origin, size, root, extensions).

    Raises:
        CheckpointError: with step 4.4.
    """
    lines = body.split("\n")
    # Step 4.4: the body is an origin line, a decimal size without leading zeros, the base64
    # of a 32-byte root, then optional non-empty extension lines.
    if len(lines) < 4 or lines[-1] != "":  # noqa: PLR2004 - field counts fixed by the C2SP note format
        raise _malformed("4.4", "checkpoint body needs origin, size and root lines",
                         expected=">= 3 lines", actual=len(lines) - 1)
    origin, size_text, root_text, *extensions = lines[:-1]
    if not origin:
        raise _malformed("4.4", "checkpoint origin is empty")
    if not _SIZE_RE.fullmatch(size_text) or int(size_text) > _MAX_SIZE:
        raise _malformed("4.4", "checkpoint size is not a canonical decimal in 0..2**63-1", actual=size_text)
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise _malformed("4.4", "checkpoint root is not valid base64", actual=root_text) from None
    if len(root) != merkle.HASH_SIZE or base64.b64encode(root).decode() != root_text:
        raise _malformed("4.4", "checkpoint root is not the canonical base64 of 32 bytes", actual=root_text)
    for ext in extensions:
        if not ext:
            raise _malformed("4.4", "checkpoint extension line is empty")
    return origin, int(size_text), Digest(root), tuple(extensions)


def sign_checkpoint(
    origin: str,
    size: int,
    root: bytes,
    signer_name: str,
    signing_key: SigningKey,
    *,
    extensions: Sequence[str] = (),
) -> str:
    """Sign a checkpoint with the ledger key; return the signed note text (spec 04)."""
    body = checkpoint_body(origin, size, root, extensions)
    return Note(body, (sign_note(body, signer_name, signing_key),)).text()


def cosign(body: str, name: str, signing_key: SigningKey, timestamp: int) -> NoteSignature:
    """A C2SP ``cosignature/v1`` by the witness key ``signing_key`` (named ``name``) over ``body``:
    key id of type 0x04, then the 8-byte big-endian ``timestamp`` and the Ed25519 signature over
    :func:`cosigned_message`."""
    if type(timestamp) is not int or not 0 <= timestamp <= _MAX_SIZE:
        msg = "cosignature timestamp must be an integer in 0..2**63-1"
        raise UsageError(msg)
    v = NoteVerifier.from_signing_key(name, signing_key, ALG_COSIGNATURE_V1)
    sig = signing_key.sign(cosigned_message(body, timestamp)).signature
    return NoteSignature(name, v.key_id, timestamp.to_bytes(_TS_SIZE, "big") + sig)


def add_cosignature(note: str, name: str, signing_key: SigningKey, *, timestamp: int,
                    limits: Limits = DEFAULT_LIMITS) -> str:
    """Append a witness's ``cosignature/v1`` line (:func:`cosign`) to ``note``.

    A witness must run :func:`verify_checkpoint` (and check consistency with the last
    checkpoint it cosigned) before calling this; this function only signs.

    Raises:
        CheckpointError: ``note`` is malformed.
        UsageError: this key has already signed the note.
    """
    parsed = parse_note(note, limits=limits)
    sig = cosign(parsed.body, name, signing_key, timestamp)
    if any((s.name, s.key_id) == (sig.name, sig.key_id) for s in parsed.signatures):
        msg = f"key {name} has already signed this note"
        raise UsageError(msg)
    return Note(parsed.body, (*parsed.signatures, sig)).text()


_SEAL = object()


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature (and witness quorum) has been verified.

    Only :func:`verify_checkpoint` creates one; later steps accept nothing else.
    """

    origin: str
    size: int
    root: Digest
    extensions: tuple[str, ...]
    note: str
    log_signers: tuple[str, ...]
    witnesses: tuple[str, ...]
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._seal is not _SEAL:
            msg = "VerifiedCheckpoint is created only by verify_checkpoint()"
            raise UsageError(msg)


def verify_checkpoint(
    note: str | bytes,
    trusted_keys: Iterable[NoteVerifier | str],
    *,
    origin: str | None = None,
    witnesses: Iterable[NoteVerifier | str] = (),
    witness_quorum: int = 0,
    limits: Limits = DEFAULT_LIMITS,
) -> VerifiedCheckpoint:
    """Verify a signed checkpoint note (spec 04; spec 06 steps 4.1-4.7).

    Args:
        note: the signed note text.
        trusted_keys: the ledger's checkpoint key(s), as :class:`NoteVerifier` or vkey text.
        origin: if given, the origin line must equal it.
        witnesses: witness keys whose cosignatures count towards the quorum.
        witness_quorum: how many distinct witness keys must have cosigned.
        limits: bounds on untrusted input.

    Returns:
        The verified checkpoint.

    Raises:
        CheckpointError: the note or body is malformed (4.1-4.4), the origin is wrong (4.5) or
            is not the name of a trusted log key (4.5.1),
            or too few witnesses cosigned (4.7).
        SignatureError: a signature by a known key fails, or no trusted key signed (4.6, 4.7).
        UsageError: a key is malformed or the quorum cannot be met by the given witnesses.
    """
    log_keys = _verifiers(trusted_keys)
    witness_keys = _verifiers(witnesses)
    if not log_keys:
        msg = "at least one trusted log key is required"
        raise UsageError(msg)
    if any(k.alg != ALG_ED25519 for k in log_keys):
        msg = "a log key must be a type-0x01 note key (a type-0x04 key is a witness's cosignature key)"
        raise UsageError(msg)
    if not 0 <= witness_quorum <= len(witness_keys):
        msg = f"witness quorum {witness_quorum} cannot be met by {len(witness_keys)} witness keys"
        raise UsageError(msg)
    parsed = parse_note(note, limits=limits)  # steps 4.1-4.3
    cp_origin, size, root, extensions = parse_checkpoint_body(parsed.body)  # step 4.4
    # Step 4.5: the origin line equals the origin the verifier expects.
    if origin is not None and cp_origin != origin:
        raise CheckpointError("4.5", "checkpoint is for another log", expected=origin, actual=cp_origin,
                              code="E_CHECKPOINT_ORIGIN")
    # C2SP tlog-checkpoint names a log's key by its origin: without the next check, a trusted
    # key could vouch for a log of any name.
    # Step 4.5.1: the origin line equals the name of a trusted log key, and only trusted log
    # keys of that name count in step 4.6.
    origin_keys = [k for k in log_keys if k.name == cp_origin]
    if not origin_keys:
        raise CheckpointError("4.5.1", "checkpoint origin is not the name of a trusted log key",
                              expected=sorted({k.name for k in log_keys}), actual=cp_origin,
                              code="E_CHECKPOINT_ORIGIN")
    # Step 4.6: every signature by a trusted log key verifies over the body, and there is at
    # least one; signatures by unknown keys are ignored.
    signers = _verified_names(parsed, origin_keys, "4.6")
    if not signers:
        raise SignatureError("4.6", "checkpoint is not signed by a trusted key",
                             expected=[k.to_vkey() for k in origin_keys],
                             actual=[f"{s.name}+{s.key_id.hex()}" for s in parsed.signatures],
                             code="E_CHECKPOINT_UNTRUSTED")
    # Step 4.7: Every cosignature by a known witness key verifies, and at least witness_quorum
    # distinct witness keys cosigned. A type-0x04 witness key's line is a C2SP cosignature/v1:
    # an 8-byte big-endian timestamp at most 2^63 − 1, then an Ed25519 signature over
    # "cosignature/v1\n", "time <timestamp>\n" and the body (spec 04 §Witness cosignatures).
    # The quorum and the witness keys come from the trust policy (spec 04 §Trust policy).
    cosigners = _verified_names(parsed, witness_keys, "4.7")
    if len(cosigners) < witness_quorum:
        raise CheckpointError("4.7", "too few witness cosignatures", expected=f">= {witness_quorum}",
                              actual=len(cosigners), code="E_CHECKPOINT_QUORUM")
    text = note.decode("utf-8") if isinstance(note, bytes) else note
    return VerifiedCheckpoint(cp_origin, size, root, extensions, text, tuple(signers), tuple(cosigners), _SEAL)


def _require_verified(*cps: object) -> None:
    for cp in cps:
        if not isinstance(cp, VerifiedCheckpoint):
            msg = f"expected a VerifiedCheckpoint, got {type(cp).__name__}; call verify_checkpoint() first"
            raise UsageError(msg)


def check_equivocation(a: VerifiedCheckpoint, b: VerifiedCheckpoint) -> None:
    """Raise if two verified checkpoints of one log disagree at the same size (spec 06 step 4.8).

    Checkpoints of different sizes cannot be compared without a proof; use
    :func:`verify_consistency_between` for those.

    Raises:
        EquivocationError: same origin and size, different roots.
        UsageError: an argument is not a VerifiedCheckpoint, or they are of different logs.
    """
    _require_verified(a, b)
    if a.origin != b.origin:
        msg = f"checkpoints of different logs ({a.origin!r}, {b.origin!r}) cannot equivocate"
        raise UsageError(msg)
    # Step 4.8: two verified checkpoints of the same log and size have the same root.
    if a.size == b.size and a.root != b.root:
        raise EquivocationError("4.8", f"two signed checkpoints of size {a.size} have different roots",
                                expected=a.root.hex(), actual=b.root.hex())


def verify_consistency_between(
    older: VerifiedCheckpoint,
    newer: VerifiedCheckpoint,
    proof: Sequence[bytes],
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Check that ``newer`` extends ``older`` (spec 06 step 4.9, then steps 3.6-3.12).

    Equal sizes with different roots raise :class:`EquivocationError` (step 4.8); an older
    checkpoint of size 0 is consistent with anything (the empty proof is required).

    Raises:
        ProofError: the proof fails (steps 3.6-3.12).
        EquivocationError: same size, different roots.
        CheckpointError: the checkpoints are of different logs (4.9).
        UsageError: an argument is not a VerifiedCheckpoint.
    """
    _require_verified(older, newer)
    # Step 4.9: both checkpoints name the same origin.
    if older.origin != newer.origin:
        raise CheckpointError("4.9", "checkpoints are of different logs", expected=older.origin,
                              actual=newer.origin, code="E_CHECKPOINT_ORIGIN")
    if older.size == newer.size:
        check_equivocation(older, newer)
    if older.size == 0:
        # The empty tree is a prefix of every tree; RFC 9162 defines no proof for it.
        if proof:
            raise ProofError("3.7", "consistency from the empty tree takes an empty proof",
                                    expected=0, actual=len(proof))
        if older.root != merkle.EMPTY_ROOT:
            raise ProofError("3.7", "a checkpoint of size 0 must have the empty root",
                                    expected=merkle.EMPTY_ROOT.hex(), actual=older.root.hex())
        return
    merkle.verify_consistency(older.size, newer.size, proof, older.root, newer.root, limits=limits)


VERIFY_STEPS = ("4.1", "4.2", "4.3", "4.4", "4.5", "4.5.1", "4.6", "4.7", "4.8", "4.9")
"""Step ids this module raises; a test checks each against the spec."""

__all__ = [
    "ALG_COSIGNATURE_V1", "ALG_ED25519", "Note", "NoteSignature", "NoteVerifier", "VerifiedCheckpoint",
    "add_cosignature", "check_equivocation", "checkpoint_body", "cosign", "cosigned_message", "is_valid_key_name",
    "note_key_id", "parse_checkpoint_body", "parse_note", "parse_trust_file", "sign_checkpoint", "sign_note",
    "verify_checkpoint", "verify_consistency_between", "vkey",
]
