"""Principals, roles and API tokens.

A *principal* is who calls the API: an officer, a legal reviewer, an agency head, a publisher, an
auditor, a registrar (keeps the registers), an enterprise, or the public (anyone without a token).
Its ``id`` is also the ``actor`` of the ledger entries it causes, so it must match the principal
name in the key registry for signing to succeed.

Scope:

- ``agency`` (a 统一社会信用代码 of an enforcement subject): officers, reviewers, heads, publishers
  and auditors with an agency see and act on cases of that agency only. An auditor with no agency
  sees every agency (a supervision body).
- ``uscc``: an enterprise sees only the cases about itself.

Tokens are random 256-bit strings shown once; only their SHA-256 is stored (``api_tokens``).
:class:`Authenticator` is the seam: :class:`TokenAuthenticator` reads the tables, and an OIDC
implementation can later map a verified ID token's claims to the same :class:`Principal`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    ForeignKey,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
    update,
)

from domain.errors import TextInvalid
from domain.text import check_text

TOKEN_PREFIX = "clk_"  # noqa: S105 - the token prefix, not a secret


class Role(StrEnum):
    OFFICER = "officer"
    LEGAL_REVIEWER = "legal_reviewer"
    AGENCY_HEAD = "agency_head"
    PUBLISHER = "publisher"
    AUDITOR = "auditor"
    REGISTRAR = "registrar"
    ENTERPRISE = "enterprise"
    PUBLIC = "public"


#: Roles that work inside an enforcement agency (their reads are scoped to ``agency``).
AGENCY_ROLES = frozenset({Role.OFFICER, Role.LEGAL_REVIEWER, Role.AGENCY_HEAD, Role.PUBLISHER, Role.AUDITOR})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller (or the anonymous public)."""

    id: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    agency: str | None = None
    uscc: str | None = None
    name: str = ""

    @property
    def is_public(self) -> bool:
        return not (self.roles - {Role.PUBLIC})

    def has(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))


PUBLIC = Principal(id="public", roles=frozenset({Role.PUBLIC}), name="公众")


class Authenticator(Protocol):
    """Turns a request's credentials into a principal. ``None``: no or invalid credentials."""

    def authenticate(self, authorization: str | None) -> Principal | None: ...


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def auth_tables(metadata: MetaData) -> tuple[Table, Table]:
    if "api_tokens" in metadata.tables:  # a second app on the same container
        return metadata.tables["api_principals"], metadata.tables["api_tokens"]
    principals = Table(
        "api_principals", metadata,
        Column("id", String(128), primary_key=True),
        Column("name", String(256), nullable=False, default=""),
        Column("roles", String(256), nullable=False),  # comma-separated Role values
        Column("agency", String(18), nullable=True),
        Column("uscc", String(18), nullable=True),
        Column("created_at", BigInteger, nullable=False),
    )
    tokens = Table(
        "api_tokens", metadata,
        Column("token_sha256", LargeBinary(32), primary_key=True),
        Column("principal_id", String(128), ForeignKey("api_principals.id"), nullable=False, index=True),
        Column("label", String(128), nullable=False, default=""),
        Column("created_at", BigInteger, nullable=False),
        Column("revoked_at", BigInteger, nullable=True),
    )
    return principals, tokens


def _now() -> int:
    return time.time_ns() // 1000


class TokenStore:
    """Principals and hashed bearer tokens in the ledger's database."""

    def __init__(self, engine: Engine, metadata: MetaData) -> None:
        self.engine = engine
        self.principals, self.tokens = auth_tables(metadata)

    def create_tables(self) -> None:
        self.principals.create(self.engine, checkfirst=True)
        self.tokens.create(self.engine, checkfirst=True)

    def add_principal(self, pid: str, roles: Iterable[Role | str], *, agency: str | None = None,
                      uscc: str | None = None, name: str = "") -> Principal:
        rs = frozenset(Role(r) for r in roles)
        # The id is the ledger actor: the write path's text policy (E_TEXT_INVALID), checked up front.
        for what, value in (("principal", pid), ("agency", agency), ("uscc", uscc)):
            if value is not None:
                check_text(value, field=what)
        check_text(name, field="name", free_text=True)
        if Role.ENTERPRISE in rs and not uscc:
            msg = "an enterprise principal needs its uscc"
            raise ValueError(msg)
        with self.engine.begin() as conn:
            conn.execute(self.principals.insert().values(
                id=pid, name=name, roles=",".join(sorted(rs)), agency=agency, uscc=uscc, created_at=_now()))
        return Principal(pid, rs, agency, uscc, name)

    def issue_token(self, pid: str, *, label: str = "") -> str:
        """A new bearer token for ``pid``; returned once, stored only as its SHA-256."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(self.tokens.insert().values(token_sha256=token_hash(token), principal_id=pid,
                                                     label=label, created_at=_now()))
        return token

    def revoke_token(self, token: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(update(self.tokens).where(self.tokens.c.token_sha256 == token_hash(token),
                                                         self.tokens.c.revoked_at.is_(None))
                               .values(revoked_at=_now()))
        return bool(res.rowcount)

    def principal_for_token(self, token: str) -> Principal | None:
        digest = token_hash(token)
        p, t = self.principals, self.tokens
        q = (select(p.c.id, p.c.name, p.c.roles, p.c.agency, p.c.uscc, t.c.token_sha256)
             .select_from(t.join(p, p.c.id == t.c.principal_id))
             .where(t.c.token_sha256 == digest, t.c.revoked_at.is_(None)))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None or not hmac.compare_digest(bytes(row.token_sha256), digest):
            return None
        roles = frozenset(Role(r) for r in row.roles.split(",") if r)
        return Principal(row.id, roles, row.agency, row.uscc, row.name)


class TokenAuthenticator:
    """``Authorization: Bearer <token>`` against :class:`TokenStore`, with a small positive cache."""

    def __init__(self, store: TokenStore, *, cache_seconds: float = 30.0) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[float, Principal]] = {}

    def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 256:  # noqa: PLR2004
            return None
        key = token_hash(token)
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        principal = self.store.principal_for_token(token)
        if principal is not None:
            if len(self._cache) > 10_000:  # noqa: PLR2004
                self._cache.clear()
            self._cache[key] = (now, principal)
        return principal


class StaticAuthenticator:
    """Fixed token → principal map (tests and single-user tools)."""

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        self._by_hash = {token_hash(t): p for t, p in tokens.items()}

    def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        return self._by_hash.get(token_hash(authorization[7:].strip()))


__all__ = ["AGENCY_ROLES", "PUBLIC", "Authenticator", "Principal", "Role", "StaticAuthenticator",
           "TokenAuthenticator", "TokenStore", "auth_tables", "cmd_token", "token_hash"]


def cmd_token(args: object) -> int:
    """``caseledger token add ID --role R [--role R] [--agency A] [--uscc U] [--name N]`` prints a new
    token (creating the principal if needed); ``caseledger token revoke TOKEN`` revokes one."""
    from sqlalchemy import create_engine  # noqa: PLC0415
    from sqlalchemy.exc import IntegrityError  # noqa: PLC0415

    from api.settings import sqlalchemy_url  # noqa: PLC0415
    from domain.uscc import is_valid_uscc  # noqa: PLC0415

    a: Any = args
    if a.action == "add":
        problem = None
        if not a.role:
            problem = "token add needs at least one --role (" + ", ".join(r.value for r in Role) + ")"
        elif a.agency is not None and not is_valid_uscc(a.agency):
            problem = f"--agency {a.agency!r} is not a valid agency code (an 18-character 统一社会信用代码)"
        elif a.uscc is not None and not is_valid_uscc(a.uscc):
            problem = f"--uscc {a.uscc!r} is not a valid 统一社会信用代码"
        elif Role.ENTERPRISE in a.role and a.uscc is None:
            problem = "an enterprise principal needs --uscc (the enterprise it speaks for)"
        if problem is not None:
            print(f"caseledger token: {problem}", file=sys.stderr)
            return 2
    store = TokenStore(create_engine(sqlalchemy_url(a.db)), MetaData())
    store.create_tables()
    if a.action == "revoke":
        ok = store.revoke_token(a.principal)
        print("revoked" if ok else "no such active token")
        return 0 if ok else 1
    try:
        store.add_principal(a.principal, a.role or [], agency=a.agency, uscc=a.uscc, name=a.name or "")
    except IntegrityError:
        pass  # an existing principal: just issue another token
    except (ValueError, TextInvalid) as e:
        print(f"caseledger token: {e}", file=sys.stderr)
        return 2
    print(store.issue_token(a.principal, label=a.label or ""))
    return 0
