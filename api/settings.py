"""Settings, read once at the edge (CLI or server start) and passed explicitly everywhere.

The ``CASELEDGER_*`` environment variables are read and checked by pydantic-settings (:class:`Environment`);
an invalid one is a usage error naming it. ``Settings`` is the plain value the code passes around.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class Environment(BaseSettings):
    """The ``CASELEDGER_*`` environment variables, typed and checked by pydantic-settings.

    An empty variable counts as unset. A value of the wrong type or out of range is a
    :class:`~ledger.errors.UsageError` naming the variable (the CLI's exit 2): see :func:`environment`.
    """

    model_config = SettingsConfigDict(env_prefix="CASELEDGER_", env_ignore_empty=True, extra="ignore",
                                      frozen=True)

    #: The database (``--db`` overrides it; parsed by api/dburl.py).
    db: str = DEFAULT_DB
    #: Seals custodial keys; else ``<data dir>/master.secret``. At least 16 bytes.
    master_secret: SecretStr | None = Field(default=None, min_length=_MIN_SECRET)
    #: The name in checkpoints' origin line.
    origin: str = Field(default=DEFAULT_ORIGIN, min_length=1)
    #: Where ``master.secret``, ``trust.vkey`` and evidence blobs live.
    data_dir: Path = Path(".caseledger")
    #: ``HttpLimits`` overrides, in bytes (at least 1).
    max_json_bytes: PositiveInt | None = None
    max_public_bytes: PositiveInt | None = None
    max_blob_bytes: PositiveInt | None = None
    #: Aggregates kept in memory per process (0: none).
    aggregate_cache: NonNegativeInt = 1000
    #: ``serve``: absolute base URL for QR codes and links; Host names requests may carry (comma-separated).
    public_url: str | None = None
    allowed_hosts: str | None = None
    #: ``serve``: log level, and the checkpoint interval in seconds (0: off).
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    checkpoint_every: NonNegativeFloat = Field(default=0.0, allow_inf_nan=False)
    #: ``serve``: who keeps the projections current: one worker elected by a database lock and woken by
    #: NOTIFY (``elect``), each worker (``follow``), a separate ``caseledger project --follow`` process
    #: (``off``), or each request (``sync``).
    project: Literal["elect", "follow", "off", "sync"] = "elect"
    #: ``serve``: requests a worker runs at once; its PostgreSQL pool (default threads + 4) and
    #: overflow; writing requests it runs at once (default half the threads). See api/settings.py Settings.
    threads: PositiveInt = 16
    db_pool_size: PositiveInt | None = None
    db_max_overflow: NonNegativeInt = 4
    writers: PositiveInt | None = None
    #: A trust file whose ``witness <vkey> <url>`` lines name the witnesses new checkpoints go to.
    witnesses: Path | None = None


def environment(environ: Mapping[str, str] | None = None) -> Environment:
    """The checked ``CASELEDGER_*`` variables of ``environ`` (default: the process environment).

    Raises :class:`~ledger.errors.UsageError` naming each variable that is not valid.
    """
    try:
        if environ is None:
            return Environment()
        prefix = "CASELEDGER_"
        values = {k[len(prefix):].lower(): v for k, v in environ.items() if k.upper().startswith(prefix) and v != ""}
        return Environment.model_validate({k: v for k, v in values.items() if k in Environment.model_fields})
    except ValidationError as e:
        problems = []
        for err in e.errors():
            var = "CASELEDGER_" + str(err["loc"][0]).upper() if err["loc"] else "a CASELEDGER_ variable"
            value = err.get("input")
            shown = "" if "secret" in var.lower() or not isinstance(value, str) else f" (got {value!r})"
            problems.append(f"{var}: {err['msg']}{shown}")
        raise UsageError("invalid environment: " + "; ".join(problems)) from None


def check_environment() -> None:
    """Refuse invalid ``CASELEDGER_*`` variables (:func:`environment`) before a command runs."""
    environment()


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
    #: Requests an HTTP worker runs at once (CASELEDGER_THREADS): the size of its thread pool for
    #: the synchronous routes. Each holds at most one database connection at a time.
    threads: int = 16
    #: Pooled PostgreSQL connections per process (CASELEDGER_DB_POOL_SIZE; default ``threads`` + 4:
    #: one per request thread, the projection follower, the checkpointer and slack), so that no
    #: request waits for a connection held by another that waits for the log's lock.
    db_pool_size: int | None = None
    #: Connections opened beyond the pool under a burst, closed when returned (CASELEDGER_DB_MAX_OVERFLOW).
    db_max_overflow: int = 4
    #: Writing requests an HTTP worker runs at once (CASELEDGER_WRITERS; default half the threads):
    #: the others wait holding no thread and no connection, so reads always find a thread
    #: (``api.guard.WriteGate``).
    writers: int | None = None

    @property
    def write_slots(self) -> int:
        """``writers``, or half of ``threads`` (at least 1)."""
        return self.writers if self.writers is not None else max(1, self.threads // 2)

    @property
    def pool_size(self) -> int:
        """``db_pool_size``, or ``threads`` + 4."""
        return self.db_pool_size if self.db_pool_size is not None else self.threads + 4
    #: Trust file whose ``witness <vkey> <url>`` lines name the witnesses each new checkpoint is
    #: submitted to (CASELEDGER_WITNESSES; spec 04 §Witness protocol). None: no witnesses.
    witnesses: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from the ``CASELEDGER_*`` variables (:func:`environment`) and ``overrides`` (not None)."""
        env = environment(environ)
        secret = env.master_secret.get_secret_value() if env.master_secret is not None else None
        secret_file = env.data_dir / "master.secret"  # written by `caseledger init`/`demo`, mode 0600
        if not secret and secret_file.exists():
            secret = secret_file.read_text().strip()
        limits = {"json_body_bytes": env.max_json_bytes, "public_body_bytes": env.max_public_bytes,
                  "blob_bytes": env.max_blob_bytes}
        kw: dict[str, object] = {
            "db_url": env.db,
            "master_secret": secret.encode() if secret else None,
            "origin": env.origin,
            "data_dir": env.data_dir,
            "http": HttpLimits(**{k: v for k, v in limits.items() if v is not None}),
            "aggregate_cache": env.aggregate_cache,
            "witnesses": env.witnesses,
            "threads": env.threads,
            "db_pool_size": env.db_pool_size,
            "db_max_overflow": env.db_max_overflow,
            "writers": env.writers,
        }
        kw.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(**kw)  # type: ignore[arg-type]
        s.check()
        return s

    def check(self) -> None:
        self.http.check()
        if self.threads < 1 or self.pool_size < 1 or self.write_slots < 1:
            msg = "CASELEDGER_THREADS, CASELEDGER_DB_POOL_SIZE and CASELEDGER_WRITERS must be at least 1"
            raise UsageError(msg)
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
