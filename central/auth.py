"""Who may do what: roles and permissions, passwords, sessions, API tokens, login limits.

ROLE_PERMISSIONS is the one place where a role's permissions are defined. Passwords are
hashed with scrypt (standard library) as ``scrypt$n$r$p$salt$hash`` (base64 salt and hash).
Session ids and API tokens are random; only their SHA-256 is stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from peewee import fn

from agent.core.models import AdminUser, utcnow
from central.models import ApiToken, LoginAttempt, Session

PERMISSIONS = (
    "processes:view",
    "processes:create",
    "processes:execute",
    "modules:view",
    "modules:edit",
    "alerts:manage",
    "stations:view",
    "audit:view",
    "users:admin",
)

_VIEW = ("processes:view", "modules:view", "stations:view")
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset(_VIEW),
    "operator": frozenset((*_VIEW, "processes:execute", "alerts:manage")),
    "editor": frozenset((*_VIEW, "processes:create", "processes:execute", "modules:edit",
                         "alerts:manage")),
    "admin": frozenset(PERMISSIONS),
}
ROLES = tuple(ROLE_PERMISSIONS)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
TOKEN_PREFIX = "fft_"


def permissions_of(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a user, through a session cookie or a bearer token."""

    user_id: int
    username: str
    role: str
    via: str  # "session" or "token"
    csrf_token: str = ""

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(self.role)

    def can(self, permission: str) -> bool:
        return permission in self.permissions


# -- passwords ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) \
        -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                            maxmem=256 * n * r + 1024 * 1024, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        n_, r_, p_ = int(n), int(r), int(p)
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=n_,
                                r=r_, p=p_, maxmem=256 * n_ * r_ + 1024 * 1024,
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH = hash_password("not a password", n=2**14)


def authenticate(username: str, password: str) -> AdminUser | None:
    """The active user with this name and password (a constant amount of work either way)."""
    user = AdminUser.get_or_none(AdminUser.username == username)
    if user is None or not user.is_active:
        verify_password(password, _DUMMY_HASH)
        return None
    return user if verify_password(password, user.password_hash) else None


def create_user(username: str, password: str, role: str) -> AdminUser:
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"role: must be one of {', '.join(ROLES)}")
    if not username or len(username) > 64 or not username.isprintable():
        raise ValueError("username: 1 to 64 printable characters")
    if len(password) < 8:
        raise ValueError("password: at least 8 characters")
    return AdminUser.create(username=username, password_hash=hash_password(password), role=role)


# -- secrets stored as hashes ---------------------------------------------------------------


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(user: AdminUser, name: str, expires_at: dt.datetime | None = None) \
        -> tuple[ApiToken, str]:
    """A new bearer token for ``user``; the token itself is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.create(name=name, user=user, token_hash=secret_hash(token),
                          expires_at=expires_at)
    return row, token


def principal_from_token(token: str) -> Principal | None:
    row = (ApiToken.select(ApiToken, AdminUser).join(AdminUser)
           .where(ApiToken.token_hash == secret_hash(token)).first())
    if row is None or row.revoked or not row.user.is_active:
        return None
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=5):
        ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
    return Principal(row.user.id, row.user.username, row.user.role, "token")


def create_session(user: AdminUser, hours: float, address: str) -> tuple[Session, str]:
    """A new browser session; the session id (for the cookie) is returned once."""
    session_id = secrets.token_urlsafe(32)
    row = Session.create(id_hash=secret_hash(session_id), user=user,
                         csrf_token=secrets.token_urlsafe(24),
                         expires_at=utcnow() + dt.timedelta(hours=hours), address=address)
    return row, session_id


def principal_from_session(session_id: str) -> Principal | None:
    row = (Session.select(Session, AdminUser).join(AdminUser)
           .where(Session.id_hash == secret_hash(session_id)).first())
    if row is None or row.expires_at <= utcnow() or not row.user.is_active:
        return None
    return Principal(row.user.id, row.user.username, row.user.role, "session", row.csrf_token)


def end_session(session_id: str) -> None:
    Session.delete().where(Session.id_hash == secret_hash(session_id)).execute()


def purge_expired_sessions() -> int:
    return int(Session.delete().where(Session.expires_at <= utcnow()).execute())


# -- login rate limit -----------------------------------------------------------------------


def login_blocked(username: str, address: str, max_failures: int, window_seconds: int) \
        -> bool:
    """Whether too many logins failed lately for this user name or from this address.

    A successful login forgives the user name's earlier failures, not the address's.
    """
    since = utcnow() - dt.timedelta(seconds=window_seconds)
    failed = LoginAttempt.select().where((LoginAttempt.at > since) & ~LoginAttempt.success)
    if failed.where(LoginAttempt.address == address).count() >= max_failures:
        return True
    last_success = (LoginAttempt.select(fn.MAX(LoginAttempt.at))
                    .where((LoginAttempt.username == username) & LoginAttempt.success).scalar())
    if last_success is not None:
        since = max(since, last_success)
    return bool(failed.where((LoginAttempt.username == username) & (LoginAttempt.at > since))
                .count() >= max_failures)


def record_login(username: str, address: str, success: bool) -> None:
    LoginAttempt.create(username=username[:200], address=address[:100], success=success)


def purge_login_attempts(older_than_seconds: int = 86400) -> int:
    since = utcnow() - dt.timedelta(seconds=older_than_seconds)
    return int(LoginAttempt.delete().where(LoginAttempt.at < since).execute())
