"""Users, roles and API tokens in the state store.

Terms:

user
    Someone (a person, or a program) allowed to use the service's API, with a unique
    ``name`` and one :class:`Role`.
role
    What a user may do, each role including the ones below it: ``viewer`` reads status,
    runs, journals, errors and conflicts; ``operator`` also starts syncs, retries items,
    resolves conflicts and pauses / resumes links; ``admin`` also runs Sync All, Force Sync
    and forced mass resynchronisation, switches "Sync All" per link, edits xrefs and
    schedules, and manages users.
password
    Optional (a user with none signs in with tokens only); at least
    :data:`PASSWORD_MIN_LENGTH` (12) characters when set; kept as an argon2id hash
    (``argon2-cffi``), never in clear.
user name
    1 to 200 printable characters: no space, no control character.
API token
    A random bearer token (``sl_`` + 43 URL-safe characters = 32 random bytes) shown once when
    created; only its SHA-256 digest is stored, so the database cannot give it away.

Errors: a duplicate, unknown or unprintable user name, a short password and an unknown role raise
:class:`~syncline.errors.UsageError`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from syncline.errors import UsageError
from syncline.state import schema as t
from syncline.state.store import StateStore, now

__all__ = ["PASSWORD_MIN_LENGTH", "TOKEN_PREFIX", "Role", "TokenInfo", "User", "UsersStore",
           "hash_token", "parse_role"]

TOKEN_PREFIX = "sl_"
"""What every API token starts with (so a leaked one is recognisable by secret scanners)."""

_NAME_LIMIT = 200
PASSWORD_MIN_LENGTH = 12
"""The fewest characters a new password may have (passwords set before are kept)."""
_LAST_USED_EVERY = 60.0
"""A token's ``last_used_at`` is brought up to date at most this often (seconds)."""


class Role(StrEnum):
    """A user's role (see the module docstring); compare with :meth:`allows`."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may (roles include those below)."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class User:
    """A stored user (never with its password hash)."""

    id: int
    name: str
    role: Role
    created_at: datetime
    created_by: str | None
    has_password: bool
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored API token's description (never the token)."""

    id: int
    user: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None


def hash_token(token: str) -> str:
    """The hex SHA-256 digest of an API token: what the database keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_role(text: str) -> Role:
    """The role named ``text`` (any case).

    Raises:
        UsageError: no such role (the message lists them).
    """
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise UsageError(f"unknown role '{text}'; roles: "
                         f"{', '.join(role.value for role in Role)}") from None


class UsersStore:
    """Users and their API tokens in a :class:`StateStore`'s database."""

    def __init__(self, store: StateStore, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.engine = store.engine
        self.hasher = hasher or PasswordHasher()

    # -- users ----------------------------------------------------------------------------------
    def add_user(self, name: str, role: Role, password: str | None = None, *,
                 created_by: str | None = None) -> User:
        """Create a user.

        Raises:
            UsageError: the name is empty, too long, not printable or taken, or the
                password is shorter than :data:`PASSWORD_MIN_LENGTH`.
        """
        name = name.strip()
        if not name or len(name) > _NAME_LIMIT or any(char.isspace() for char in name) \
                or not name.isprintable():
            raise UsageError(f"a user name must be 1 to {_NAME_LIMIT} printable characters "
                             f"without spaces or control characters (got {name!r})")
        hashed = self._hash(password) if password is not None else None
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(t.users).values(
                    name=name, role=role.value, password_hash=hashed, created_at=now(),
                    created_by=created_by))
        except IntegrityError:
            raise UsageError(f"user '{name}' exists already") from None
        return self.user(name)

    def _hash(self, password: str) -> str:
        if not password:
            raise UsageError("the password is empty")
        if len(password) < PASSWORD_MIN_LENGTH:
            raise UsageError(f"the password is too short: it needs at least "
                             f"{PASSWORD_MIN_LENGTH} characters (got {len(password)})")
        return self.hasher.hash(password)

    def user(self, name: str) -> User:
        """The user called ``name``.

        Raises:
            UsageError: there is none (the message lists the users).
        """
        found = self.find(name)
        if found is None:
            known = ", ".join(user.name for user in self.users()) or "none"
            raise UsageError(f"no user '{name}'; users: {known}")
        return found

    def find(self, name: str) -> User | None:
        """The user called ``name``, or ``None``."""
        return next((user for user in self.users() if user.name == name), None)

    def users(self) -> list[User]:
        """Every user, by name, with how many tokens each has."""
        tokens = (select(t.api_tokens.c.user_id, func.count().label("tokens"))
                  .group_by(t.api_tokens.c.user_id).subquery())
        query = (select(t.users, tokens.c.tokens)
                 .outerjoin(tokens, tokens.c.user_id == t.users.c.id)
                 .order_by(t.users.c.name))
        with self.engine.connect() as connection:
            return [User(row.id, row.name, Role(row.role), row.created_at, row.created_by,
                         row.password_hash is not None, int(row.tokens or 0))
                    for row in connection.execute(query)]

    def set_role(self, name: str, role: Role) -> User:
        """Change a user's role.

        Raises:
            UsageError: no such user.
        """
        user = self.user(name)
        with self.engine.begin() as connection:
            connection.execute(update(t.users).where(t.users.c.id == user.id)
                               .values(role=role.value))
        return self.user(name)

    def set_password(self, name: str, password: str) -> None:
        """Replace a user's password.

        Raises:
            UsageError: no such user, or a password shorter than
                :data:`PASSWORD_MIN_LENGTH`.
        """
        user = self.user(name)
        hashed = self._hash(password)
        with self.engine.begin() as connection:
            connection.execute(update(t.users).where(t.users.c.id == user.id)
                               .values(password_hash=hashed))

    def remove_user(self, name: str) -> None:
        """Delete a user and all their tokens.

        Raises:
            UsageError: no such user.
        """
        user = self.user(name)
        with self.engine.begin() as connection:
            connection.execute(delete(t.api_tokens).where(t.api_tokens.c.user_id == user.id))
            connection.execute(delete(t.users).where(t.users.c.id == user.id))

    def check_password(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs, else ``None`` (also for an unknown user or
        one without a password). A hash made with older parameters is upgraded."""
        query = select(t.users).where(t.users.c.name == name)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None or row.password_hash is None:
            return None
        try:
            self.hasher.verify(row.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if self.hasher.check_needs_rehash(row.password_hash):
            with self.engine.begin() as connection:
                connection.execute(update(t.users).where(t.users.c.id == row.id)
                                   .values(password_hash=self.hasher.hash(password)))
        return self.user(name)

    # -- tokens ---------------------------------------------------------------------------------
    def create_token(self, name: str, label: str | None = None) -> str:
        """A new API token for user ``name``; returned once, stored only as its digest.

        Raises:
            UsageError: no such user.
        """
        user = self.user(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            connection.execute(insert(t.api_tokens).values(
                user_id=user.id, token_hash=hash_token(token), label=label,
                created_at=now()))
        return token

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        """The tokens (of user ``name``), oldest first."""
        query = (select(t.api_tokens, t.users.c.name)
                 .join(t.users, t.users.c.id == t.api_tokens.c.user_id)
                 .order_by(t.api_tokens.c.id))
        if name is not None:
            query = query.where(t.users.c.name == name)
        with self.engine.connect() as connection:
            return [TokenInfo(row.id, row.name, row.label, row.created_at, row.last_used_at)
                    for row in connection.execute(query)]

    def revoke_token(self, token_id: int) -> bool:
        """Delete a token by id; whether there was one."""
        with self.engine.begin() as connection:
            result = connection.execute(delete(t.api_tokens)
                                        .where(t.api_tokens.c.id == token_id))
        return bool(result.rowcount)

    def authenticate(self, token: str) -> User | None:
        """The user owning ``token``, or ``None``; records when the token was last used (to
        the minute)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = hash_token(token)
        query = (select(t.api_tokens.c.id, t.api_tokens.c.token_hash,
                        t.api_tokens.c.last_used_at, t.users.c.name)
                 .join(t.users, t.users.c.id == t.api_tokens.c.user_id)
                 .where(t.api_tokens.c.token_hash == digest))
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None or not hmac.compare_digest(str(row.token_hash), digest):
            return None
        moment = now()
        last = row.last_used_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=moment.tzinfo)
        if last is None or (moment - last).total_seconds() >= _LAST_USED_EVERY:
            with self.engine.begin() as connection:  # not on every call: fewer writes
                connection.execute(update(t.api_tokens).where(t.api_tokens.c.id == row.id)
                                   .values(last_used_at=moment))
        return self.find(str(row.name))
