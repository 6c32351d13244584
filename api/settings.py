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
class Settings:
    db_url: str = DEFAULT_DB
    #: Master secret that seals custodial keys (CASELEDGER_MASTER_SECRET). Required to sign.
    master_secret: bytes | None = None
    #: Name in checkpoints' origin line.
    origin: str = DEFAULT_ORIGIN
    data_dir: Path = Path(".caseledger")
    limits: Limits = field(default=DEFAULT_LIMITS)
    workers: int = 2

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
        }
        kw.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(**kw)  # type: ignore[arg-type]
        s.check()
        return s

    def check(self) -> None:
        if self.master_secret is not None and len(self.master_secret) < _MIN_SECRET:
            msg = f"CASELEDGER_MASTER_SECRET must be at least {_MIN_SECRET} bytes"
            raise UsageError(msg)
        if not (self.db_url.startswith("sqlite") or self.db_url.startswith("postgresql")):
            msg = f"unsupported database URL {self.db_url!r} (use sqlite:/// or postgresql+psycopg://)"
            raise UsageError(msg)


def sqlalchemy_url(db_url: str) -> str:
    """Normalise a user-given URL: psycopg 3 driver for PostgreSQL, a busy timeout for SQLite."""
    if db_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + db_url.split("://", 1)[1]
    if db_url.startswith("sqlite") and "timeout=" not in db_url and ":memory:" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + "timeout=30"
    return db_url
