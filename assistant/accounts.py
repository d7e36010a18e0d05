"""User accounts for the web UI and the API: roles, password logins, sessions and API keys.

Passwords are hashed with scrypt (a per-user random salt; the parameters are stored with the
hash, so they can be raised later without breaking old hashes). Session tokens and API keys are
random and only their sha256 is stored. Logins are throttled per name, in the database, so every
app process sees the same count.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from assistant.appdb import AppDB, api_keys, login_failures, now_iso, sessions, users
from assistant.errors import InputError, Kind

ROLES = ("staff", "admin", "evaluator")
PERMISSIONS: dict[str, set[str]] = {
    "staff": {"chat"},
    "evaluator": {"chat", "reports"},
    "admin": {"chat", "documents", "users", "engines", "reports", "jobs:all"},
    # The command line without --user: whoever can run it on the server owns the deployment. Not a
    # role an account can have (ROLES), so no sign-in ever gets it.
    "operator": {"chat", "documents", "users", "engines", "reports", "jobs:all", "unrestricted"},
}

BAD_LOGIN = "wrong user name or password"
MIN_PASSWORD = 8
# scrypt beyond ~1 KB of input only costs the server time: cap it.
MAX_PASSWORD = 1024
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
GROUP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}")

# scrypt cost: n=2**14, r=8 uses 16 MiB and ~50 ms per hash, the interactive-login level of RFC 7914.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16
# Failures older than this are forgotten, so a typo last week does not count towards a lockout.
FAILURE_MEMORY_S = 900.0
FAILURE_DELAY_S = 0.2
FAILURE_DELAY_CAP_S = 2.0


class AccountError(InputError):
    """A message for the user: unknown role, user exists, bad name or password…"""


class AuthError(AccountError):
    """A refused login: always BAD_LOGIN (never which part was wrong) or a throttle message."""

    kind: Kind = "denied"


SIGN_INS = ("password", "oidc", "header", "ldap")
# The password hash of an account that signs in elsewhere (identity provider, trusted proxy): it matches
# no password, so our form never lets it in.
NO_PASSWORD = "!"
DISABLED = "this account is disabled; ask an administrator"


@dataclass(frozen=True)
class User:
    name: str
    role: str
    groups: tuple[str, ...]
    disabled: bool = False
    sign_in: str = "password"

    def can(self, permission: str) -> bool:
        return not self.disabled and permission in PERMISSIONS.get(self.role, set())

    def to_json(self) -> dict[str, Any]:
        return {"user": self.name, "role": self.role, "groups": list(self.groups), "disabled": self.disabled,
                "sign_in": self.sign_in}


# Checks a name and password elsewhere (LDAP): the signed-in account, or None when refused.
Directory = Callable[[str, str], "User | None"]


@dataclass(frozen=True)
class UserChange:
    """What `users set` changes; None leaves that field as it is."""

    role: str | None = None
    groups: list[str] | None = None
    disabled: bool | None = None

    def is_empty(self) -> bool:
        return self.role is None and self.groups is None and self.disabled is None


def hash_password(password: str, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """'scrypt$n$r$p$salt$hash' (salt and hash in hex)."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        actual = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p), len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int = 32) -> bytes:
    # maxmem above the 128*n*r the parameters need (OpenSSL's default limit is 32 MiB).
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20,
                          dklen=dklen)


# Checked against when the user does not exist, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise AccountError(
            f"bad user name {name!r}: 1-64 letters, digits or . _ @ -, starting with a letter or digit"
        )
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


def _check_groups(groups: list[str] | tuple[str, ...] | None) -> list[str]:
    out: list[str] = []
    for g in groups or []:
        g = g.strip()
        if not g:
            continue
        if not GROUP_RE.fullmatch(g):
            raise AccountError(f"bad group name {g!r}: letters, digits or . _ @ : -, at most 64")
        if g not in out:
            out.append(g)
    return out


def _check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password must have at most {MAX_PASSWORD} characters")
    return password


def _user(row: Any) -> User:
    return User(row.name, row.role, tuple(row.groups or ()), bool(row.disabled), row.sign_in or "password")


class Accounts:
    def __init__(
        self,
        db: AppDB,
        session_ttl_s: int = 8 * 3600,
        max_failures: int = 5,
        lockout_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.session_ttl_s = session_ttl_s
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self.sleep = sleep

    # -- users --------------------------------------------------------------------------------
    def add_user(
        self, name: str, role: str, groups: list[str] | None, password: str, *, actor: str | None = None
    ) -> User:
        _check_name(name)
        _check_role(role)
        clean_groups = _check_groups(groups)
        _check_password(password)
        row = {"name": name, "role": role, "groups": clean_groups, "password_hash": hash_password(password),
               "created": now_iso()}
        try:
            with self.db.engine.begin() as conn:
                conn.execute(insert(users).values(**row))
        except IntegrityError:
            raise AccountError(f"user {name!r} already exists") from None
        self.db.audit(actor, "user.add", f"{name} role={role} groups={','.join(clean_groups)}")
        return User(name, role, tuple(clean_groups))

    def set_password(self, name: str, password: str, *, actor: str | None = None) -> None:
        """A new password; the user's open sessions end (API keys stay: revoke them by removing keys)."""
        _check_password(password)
        account = self.get(name)
        if account is not None and account.sign_in != "password":
            raise AccountError(f"{name} signs in with {account.sign_in}: there is no password here to change")
        with self.db.engine.begin() as conn:
            res = conn.execute(update(users).where(users.c.name == name).values(password_hash=hash_password(password)))
            if res.rowcount == 0:
                raise AccountError(f"no user {name!r}")
            conn.execute(delete(sessions).where(sessions.c.user == name))
            conn.execute(delete(login_failures).where(login_failures.c.name == name))
        self.db.audit(actor, "user.password", name)

    def update_user(self, name: str, change: UserChange, *, actor: str | None = None) -> User:
        """Change a user's role, groups or whether they may sign in. Disabling ends their sessions and
        revokes their API keys at once; re-enabled, they sign in again and need a new key."""
        values: dict[str, Any] = {}
        if change.role is not None:
            values["role"] = _check_role(change.role)
        if change.groups is not None:
            values["groups"] = _check_groups(change.groups)
        if change.disabled is not None:
            values["disabled"] = int(change.disabled)
        if not values:
            raise AccountError("nothing to change: give a role, groups, or disable/enable")
        with self.db.engine.begin() as conn:
            if conn.execute(update(users).where(users.c.name == name).values(**values)).rowcount == 0:
                raise AccountError(f"no user {name!r}")
            if change.disabled:
                conn.execute(delete(sessions).where(sessions.c.user == name))
                conn.execute(delete(api_keys).where(api_keys.c.user == name))
        detail = " ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in values.items())
        self.db.audit(actor, "user.set", f"{name} {detail}")
        user = self.get(name)
        assert user is not None
        return user

    def sign_in_external(self, name: str, role: str, groups: list[str], sign_in: str) -> User:
        """The account of someone the identity provider (or trusted proxy) vouched for: created at their
        first sign-in, its role and groups replaced by the provider's at each one. A password account of
        the same name is never taken over, and a disabled account stays out."""
        _check_name(name)
        _check_role(role)
        clean_groups = _check_groups(groups)
        if sign_in not in SIGN_INS[1:]:
            raise AccountError(f"unknown sign-in {sign_in!r}")
        existing = self.get(name)
        if existing is not None and existing.sign_in != sign_in:
            raise AuthError(f"the account {name!r} signs in with {existing.sign_in}, not {sign_in}; "
                            "an administrator can rename or remove one of them")
        if existing is not None and existing.disabled:
            raise AuthError(DISABLED)
        if existing is not None and (existing.role, existing.groups) == (role, tuple(clean_groups)):
            return existing  # the common case, every request behind a proxy: no write
        if existing is None:
            try:
                with self.db.engine.begin() as conn:
                    conn.execute(insert(users).values(name=name, role=role, groups=clean_groups,
                                                      password_hash=NO_PASSWORD, created=now_iso(), sign_in=sign_in))
            except IntegrityError:  # signed in twice at once: the other request made it, updated below
                existing = self.get(name)
        with self.db.engine.begin() as conn:
            conn.execute(update(users).where(users.c.name == name, users.c.sign_in == sign_in)
                         .values(role=role, groups=clean_groups))
        if existing is None or (existing.role, existing.groups) != (role, tuple(clean_groups)):
            self.db.audit(name, f"user.{sign_in}", f"{name} role={role} groups={','.join(clean_groups)}"
                          + (" (new)" if existing is None else ""))
        return User(name, role, tuple(clean_groups), False, sign_in)

    def get(self, name: str) -> User | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        return _user(row) if row else None

    def list_users(self) -> list[User]:
        with self.db.engine.connect() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]

    def remove_user(self, name: str, *, actor: str | None = None) -> None:
        with self.db.engine.begin() as conn:
            res = conn.execute(delete(users).where(users.c.name == name))
            if res.rowcount == 0:
                raise AccountError(f"no user {name!r}")
            conn.execute(delete(sessions).where(sessions.c.user == name))
            conn.execute(delete(api_keys).where(api_keys.c.user == name))
            conn.execute(delete(login_failures).where(login_failures.c.name == name))
        self.db.audit(actor, "user.remove", name)

    # -- logins -------------------------------------------------------------------------------
    def authenticate(self, name: str, password: str, directory: Directory | None = None) -> User:
        """The account whose password this is. With a `directory` (LDAP), names that are not our own
        password accounts are checked there instead; the same throttle applies to both."""
        key = str(name)[:128]
        now = self.clock()
        wait = self._locked_for(key, now)
        if wait > 0:
            # Refused without checking the password, so guessing gains nothing while locked.
            raise AuthError(f"too many failed attempts; try again in {math.ceil(wait)} s")
        with self.db.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first() if isinstance(name, str) else None
        ok_shape = isinstance(password, str) and 0 < len(password) <= MAX_PASSWORD
        if directory is not None and (row is None or row.sign_in == "ldap"):
            found = directory(name, password) if ok_shape and isinstance(name, str) else None
            if found is not None:
                with self.db.engine.begin() as conn:
                    conn.execute(delete(login_failures).where(login_failures.c.name == key))
                return found
            self._refuse(key, now)
        # Always one scrypt: an unknown user takes as long as a wrong password.
        ok = verify_password(password if ok_shape else "", row.password_hash if row else _DUMMY_HASH)
        if row is not None and ok and ok_shape:
            if row.disabled:  # the right password: saying so reveals nothing the person did not know
                raise AuthError(DISABLED)
            with self.db.engine.begin() as conn:
                conn.execute(delete(login_failures).where(login_failures.c.name == key))
            # A successful login is audited by the caller (it knows where it came from); failures here.
            return _user(row)
        self._refuse(key, now)

    def _refuse(self, key: str, now: float) -> NoReturn:
        failures = self._record_failure(key, now)
        self.db.audit(None, "login.failed", key)
        self.sleep(min(FAILURE_DELAY_S * failures, FAILURE_DELAY_CAP_S))
        raise AuthError(BAD_LOGIN)

    def _locked_for(self, key: str, now: float) -> float:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(login_failures).where(login_failures.c.name == key)).first()
        if row is None or row.count < self.max_failures:
            return 0.0
        return max(0.0, self.lockout_s - (now - row.last_failure))

    def _record_failure(self, key: str, now: float) -> int:
        """Count one more consecutive failure for this name; returns the count."""
        forget_before = now - max(FAILURE_MEMORY_S, self.lockout_s)
        with self.db.engine.begin() as conn:
            conn.execute(delete(login_failures).where(login_failures.c.last_failure < forget_before))
            bump = (update(login_failures).where(login_failures.c.name == key)
                    .values(count=login_failures.c.count + 1, last_failure=now))
            if conn.execute(bump).rowcount == 0:
                try:
                    # A savepoint, so a lost race does not abort the whole transaction (PostgreSQL). On
                    # SQLite the UPDATE already holds the write lock, so no one can insert in between.
                    with conn.begin_nested() if conn.dialect.name != "sqlite" else nullcontext():
                        conn.execute(insert(login_failures).values(name=key, count=1, last_failure=now))
                except IntegrityError:  # another process inserted it first
                    conn.execute(bump)
            return int(conn.execute(select(login_failures.c.count).where(login_failures.c.name == key)).scalar() or 1)

    # -- sessions -----------------------------------------------------------------------------
    def create_session(self, user: User) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.db.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires <= now))
            conn.execute(insert(sessions).values(token_hash=_sha256(token), user=user.name, created=now,
                                                 expires=now + self.session_ttl_s))
        return token

    def session_user(self, token: str | None) -> User | None:
        if not token or not isinstance(token, str):
            return None
        digest = _sha256(token)
        q = (select(users, sessions.c.expires).join(sessions, sessions.c.user == users.c.name)
             .where(sessions.c.token_hash == digest, users.c.disabled == 0))
        with self.db.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        if row.expires <= self.clock():
            self.end_session(token)
            return None
        # Role and groups are read now, not at login: a change applies to open sessions at once.
        return _user(row)

    def end_session(self, token: str) -> None:
        if not token:
            return
        with self.db.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == _sha256(token)))

    # -- API keys -----------------------------------------------------------------------------
    def new_api_key(self, name: str, *, actor: str | None = None) -> str:
        account = self.get(name)
        if account is None:
            raise AccountError(f"no user {name!r}")
        if account.disabled:
            raise AccountError(f"{name} is disabled: enable the account first (`assistant users set {name} --enable`)")
        key = "sk-" + secrets.token_urlsafe(32)
        with self.db.engine.begin() as conn:
            conn.execute(insert(api_keys).values(key_hash=_sha256(key), user=name, created=now_iso()))
        self.db.audit(actor, "apikey.new", name)
        return key

    def user_for_api_key(self, key: str | None) -> User | None:
        if not key or not isinstance(key, str):
            return None
        q = (select(users).join(api_keys, api_keys.c.user == users.c.name)
             .where(api_keys.c.key_hash == _sha256(key), users.c.disabled == 0))
        with self.db.engine.connect() as conn:
            row = conn.execute(q).first()
        return _user(row) if row else None

    def revoke_api_keys(self, name: str, *, actor: str | None = None) -> int:
        """Remove all of a user's API keys; returns how many there were."""
        with self.db.engine.begin() as conn:
            n = conn.execute(delete(api_keys).where(api_keys.c.user == name)).rowcount
        self.db.audit(actor, "apikey.revoke", f"{name} ({n})")
        return n
