"""The single composition root: builds the ledger from explicit settings and collaborators."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import Engine, MetaData

from api.schema import require_current
from api.settings import Settings, sqlalchemy_url
from ledger.application import LedgerApplication
from ledger.custody import KeyVault
from ledger.errors import UsageError
from ledger.hashing import KeyId
from ledger.merkle_store import MerkleStore
from ledger.signers import Signer
from ledger.signing import Signature

ROOT_PRINCIPAL = "root"
#: The principal whose custodial key signs accepted enterprise feedback (role ``feedback_intake``, R21).
INTAKE_PRINCIPAL = "feedback-intake"


def system_clock() -> int:
    """Now, in integer µs UTC."""
    return time.time_ns() // 1000


@dataclass
class Container:
    settings: Settings
    app: LedgerApplication
    engine: Engine
    metadata: MetaData
    merkle: MerkleStore
    vault: KeyVault | None

    def ledger_key(self) -> SigningKey:
        """The root key that signs checkpoints; held in the custodial vault as principal ``root``."""
        if self.vault is None:
            msg = "signing checkpoints needs CASELEDGER_MASTER_SECRET (the custodial vault holds the root key)"
            raise UsageError(msg)
        return self.vault.signing_key(ROOT_PRINCIPAL)


def domain_event_types() -> dict[str, type[Any]]:
    try:
        from domain.registry import EVENT_TYPES  # noqa: PLC0415 - optional until the domain lands
    except ImportError:
        return {}
    return dict(EVENT_TYPES)


def bootstrap(
    settings: Settings,
    *,
    signer: Signer | None = None,
    clock: Callable[[], int] = system_clock,
    event_types: Mapping[str, type[Any]] | None = None,
    calendar: Any = None,
    schema_revision: str | None = None,
) -> Container:
    """Build the application, store and key vault. Nothing here runs at import time.

    The database's schema must be at ``schema_revision`` (default: the newest migration; an older
    revision plays an earlier release, as the migration tests do); an empty database is created
    through the migrations up to it (api/schema.py).
    """
    metadata = MetaData()
    merkle = MerkleStore(metadata)
    env = {
        "PERSISTENCE_MODULE": "ledger.pool:PooledLedgerFactory",  # ledger.store's factory, with a sized pool
        "SQLALCHEMY_URL": sqlalchemy_url(settings.db_url),
        "CREATE_TABLE": "n",  # the tables come from the migrations (api/schema.py, ADR 0006)
    }
    env.update(CASELEDGER_POOL_SIZE=str(settings.pool_size), CASELEDGER_POOL_OVERFLOW=str(settings.db_max_overflow))
    if settings.aggregate_cache > 0:  # no replay per command (issue 16): fast-forwarded on every load
        env.update(AGGREGATE_CACHE_MAXSIZE=str(settings.aggregate_cache), AGGREGATE_CACHE_FASTFORWARD="y")
    vault_signer: Signer | None = signer
    vault: KeyVault | None = None
    types = domain_event_types() if event_types is None else dict(event_types)
    if calendar is None:
        from ledger.holidays import ChineseCalendar  # noqa: PLC0415

        calendar = ChineseCalendar()

    def prepare(engine: Engine) -> None:
        # An empty database is created through the migrations; an older or newer schema is refused.
        require_current(engine, db=settings.db_url, create=True, expect=schema_revision)

    app = LedgerApplication(env, event_types=types, signer=_LateSigner(), clock=clock, limits=settings.limits,
                            merkle=merkle, metadata=metadata, calendar=calendar, prepare=prepare)
    engine = app.recorder.datastore.engine  # type: ignore[attr-defined]
    if settings.master_secret is not None:
        vault = KeyVault(engine, metadata, settings.master_secret)
    if vault_signer is None:
        vault_signer = vault if vault is not None else _NoSigner()
    app.signer = vault_signer
    return Container(settings, app, engine, metadata, merkle, vault)


class _NoSigner:
    untrusted = False

    def key_for(self, actor: str) -> KeyId:  # noqa: ARG002 - the Signer protocol's signature
        from ledger.errors import UsageError  # noqa: PLC0415

        msg = "no signer configured: set CASELEDGER_MASTER_SECRET for custodial keys or pass a signer"
        raise UsageError(msg)

    def sign(self, kid: KeyId, digest: bytes) -> Signature:  # pragma: no cover
        raise NotImplementedError


class _LateSigner(_NoSigner):
    """Placeholder while the application is being constructed."""
