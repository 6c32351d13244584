"""Settings, read once at the edge (CLI or server start) and passed explicitly everywhere."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ledger.errors import UsageError
from ledger.limits import DEFAULT_LIMITS, Limits

DEFAULT_DB = "sqlite:///./caseledger.db"
DEFAULT_ORIGIN = "caseledger.example/ledger"
_MIN_SECRET = 16


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Every bound the HTTP layer puts on a request, in one place (docs/api.md, "Request limits").

    Bodies are bounded before they are read: a request whose ``Content-Length`` is over its limit
    is answered 413 at once, and a body streamed without one is cut off at the limit. Requests
    that need a token are authenticated before their body is read.
    """

    #: A JSON command body (client-signed commands carry up to 16 entries of 64 KiB, hex-encoded).
    json_body_bytes: int = 4 * 1024 * 1024
    #: A body sent without a token: the public feedback endpoint and the feedback form.
    public_body_bytes: int = 16 * 1024
    #: An evidence upload (``POST /v1/blobs``), streamed to disk while it is hashed.
    blob_bytes: int = 256 * 1024 * 1024
    #: Public feedback submissions (accepted or not) per client address, per window.
    feedback_per_client: int = 20
    #: Public feedback submissions (accepted or not) per case, per window.
    feedback_per_case: int = 10
    #: The rate limits' sliding window, in seconds.
    feedback_window_seconds: float = 3600.0

    def check(self) -> None:
        for name in ("json_body_bytes", "public_body_bytes", "blob_bytes", "feedback_per_client",
                     "feedback_per_case"):
            if int(getattr(self, name)) < 1:
                msg = f"{name} must be at least 1"
                raise UsageError(msg)
        if self.feedback_window_seconds <= 0:
            msg = "feedback_window_seconds must be positive"
            raise UsageError(msg)


def _http_limits(env: Mapping[str, str]) -> HttpLimits:
    """``HttpLimits`` with the ``CASELEDGER_MAX_*_BYTES`` overrides from the environment."""
    names = {"CASELEDGER_MAX_JSON_BYTES": "json_body_bytes", "CASELEDGER_MAX_PUBLIC_BYTES": "public_body_bytes",
             "CASELEDGER_MAX_BLOB_BYTES": "blob_bytes"}
    kw: dict[str, int] = {}
    for var, name in names.items():
        raw = env.get(var)
        if raw:
            try:
                kw[name] = int(raw)
            except ValueError:
                msg = f"{var} must be a whole number of bytes, not {raw!r}"
                raise UsageError(msg) from None
    return HttpLimits(**kw)


@dataclass(frozen=True, slots=True)
class Settings:
    db_url: str = DEFAULT_DB
    #: Master secret that seals custodial keys (CASELEDGER_MASTER_SECRET). Required to sign.
    master_secret: bytes | None = None
    #: Name in checkpoints' origin line.
    origin: str = DEFAULT_ORIGIN
    data_dir: Path = Path(".caseledger")
    limits: Limits = field(default=DEFAULT_LIMITS)
    http: HttpLimits = field(default_factory=HttpLimits)
    workers: int = 2
    #: Aggregates kept in memory per process (CASELEDGER_AGGREGATE_CACHE; 0: none). A cached aggregate
    #: is brought up to date from the store on every load (fast-forward), so another process's writes
    #: are always seen and optimistic concurrency still decides.
    aggregate_cache: int = 1000
    #: Trust file whose ``witness <vkey> <url>`` lines name the witnesses each new checkpoint is
    #: submitted to (CASELEDGER_WITNESSES; spec 04 §Witness protocol). None: no witnesses.
    witnesses: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("CASELEDGER_DATA_DIR", ".caseledger"))
        secret = env.get("CASELEDGER_MASTER_SECRET")
        secret_file = data_dir / "master.secret"  # written by `caseledger demo`, mode 0600
        if not secret and secret_file.exists():
            secret = secret_file.read_text().strip()
        kw: dict[str, object] = {
            "db_url": env.get("CASELEDGER_DB", DEFAULT_DB),
            "master_secret": secret.encode() if secret else None,
            "origin": env.get("CASELEDGER_ORIGIN", DEFAULT_ORIGIN),
            "data_dir": data_dir,
            "http": _http_limits(env),
            "aggregate_cache": _whole_number(env, "CASELEDGER_AGGREGATE_CACHE", 1000),
            "witnesses": Path(env["CASELEDGER_WITNESSES"]) if env.get("CASELEDGER_WITNESSES") else None,
        }
        kw.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(**kw)  # type: ignore[arg-type]
        s.check()
        return s

    def check(self) -> None:
        self.http.check()
        if self.master_secret is not None and len(self.master_secret) < _MIN_SECRET:
            msg = f"CASELEDGER_MASTER_SECRET must be at least {_MIN_SECRET} bytes"
            raise UsageError(msg)
        if not (self.db_url.startswith("sqlite") or self.db_url.startswith("postgresql")):
            msg = f"unsupported database URL {self.db_url!r} (use sqlite:/// or postgresql+psycopg://)"
            raise UsageError(msg)


def _whole_number(env: Mapping[str, str], var: str, default: int) -> int:
    raw = env.get(var)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        msg = f"{var} must be a whole number, not {raw!r}"
        raise UsageError(msg)
    return int(raw)


def sqlalchemy_url(db_url: str) -> str:
    """Normalise a user-given URL: psycopg 3 driver for PostgreSQL, a busy timeout for SQLite."""
    if db_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + db_url.split("://", 1)[1]
    if db_url.startswith("sqlite") and "timeout=" not in db_url and ":memory:" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + "timeout=30"
    return db_url
