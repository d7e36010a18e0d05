"""Users: signing in (sessions, API keys) and managing accounts. Only admins (and the operator) manage, and
only they read the audit log; the accounts store writes its audit rows itself."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from assistant.accounts import ROLES, AccountError, AuthError, User, UserChange
from assistant.appdb import audit_log
from assistant.demo_accounts import ensure_demo_accounts
from assistant.errors import InputError, NotFound
from assistant.services.base import ServiceContext, require
from assistant.sso import LdapDirectory, OidcSignIn, proxy_identity


class UsersService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- signing in ----------------------------------------------------------------------------------
    def login(self, name: str, password: str) -> tuple[User, str]:
        """(user, session token). Raises AuthError with the same message for a wrong name or password. With
        [auth.ldap], names that are not our own password accounts are checked by the directory."""
        directory = self._directory_user if self.ctx.settings.auth.ldap.enabled() else None
        user = self.ctx.accounts.authenticate(name.strip(), password, directory)
        self.ctx.db.audit(user.name, "login", "ldap" if user.sign_in == "ldap" else "")
        return user, self.ctx.accounts.create_session(user)

    def _directory_user(self, name: str, password: str) -> User | None:
        identity = LdapDirectory(self.ctx.settings.auth).identity(name, password)
        if identity is None:
            return None
        return self.ctx.accounts.sign_in_external(identity.name, identity.role, list(identity.groups), "ldap")

    def sign_in_options(self) -> dict[str, Any]:
        """What the sign-in page offers: {"password": bool, "oidc": the button's provider name or None}."""
        auth = self.ctx.settings.auth
        return {"password": auth.password_sign_in, "oidc": auth.oidc.display_name if auth.oidc.enabled() else None}

    def password_login(self, name: str, password: str) -> tuple[User, str]:
        """`login`, unless the site turned our password form off ([auth] password_sign_in = false)."""
        if not self.ctx.settings.auth.password_sign_in:
            raise AuthError("this site signs in through its identity provider only")
        return self.login(name, password)

    @functools.cached_property
    def _oidc(self) -> OidcSignIn:
        if not self.ctx.settings.auth.oidc.enabled():
            raise NotFound("single sign-on is not configured here ([auth.oidc] issuer and client_id)")
        return OidcSignIn(self.ctx.settings.auth, self.ctx.db)

    def oidc_start(self, redirect_uri: str) -> tuple[str, str]:
        """(the identity provider's sign-in URL to send the browser to, the state the browser keeps)."""
        return self._oidc.start(redirect_uri)

    def oidc_finish(self, redirect_uri: str, params: Mapping[str, str], browser_state: str | None) -> tuple[User, str]:
        """The provider's redirect back: (the account, now matching the provider's groups, a session token)."""
        identity = self._oidc.finish(redirect_uri, params, browser_state)
        user = self.ctx.accounts.sign_in_external(identity.name, identity.role, list(identity.groups), "oidc")
        self.ctx.db.audit(user.name, "login", "oidc")
        return user, self.ctx.accounts.create_session(user)

    def proxy_user(self, peer: str | None, headers: Mapping[str, str]) -> User | None:
        """The user a trusted proxy's headers name ([auth] trusted_header_user), or None (header mode off, a
        peer not among trusted_proxies, no header); a disabled account is refused with AuthError."""
        identity = proxy_identity(self.ctx.settings.auth, peer, headers)
        if identity is None:
            return None
        return self.ctx.accounts.sign_in_external(identity.name, identity.role, list(identity.groups), "header")

    def session_user(self, token: str | None) -> User | None:
        return self.ctx.accounts.session_user(token) if token else None

    def key_user(self, key: str | None) -> User | None:
        return self.ctx.accounts.user_for_api_key(key) if key else None

    def logout(self, token: str | None) -> None:
        if token:
            self.ctx.accounts.end_session(token)

    def find(self, name: str) -> User:
        """An account by name (the CLI's --user); NotFound says how to list and add them."""
        account = self.ctx.accounts.get(name)
        if account is None:
            raise NotFound(f"no user named {name!r} (see `assistant users list`; add one with `assistant users add`)")
        return account

    # -- managing accounts -----------------------------------------------------------------------------
    def list(self, user: User) -> list[User]:
        require(user, "users")
        return self.ctx.accounts.list_users()

    def check_new(self, user: User, name: str, role: str) -> None:
        """What can be refused before asking for a password (twice, on a terminal)."""
        require(user, "users")
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        if self.ctx.accounts.get(name) is not None:
            raise AccountError(f"user {name!r} already exists")

    def add(self, user: User, name: str, role: str, groups: list[str], password: str) -> User:
        require(user, "users")
        return self.ctx.accounts.add_user(name, role, groups, password, actor=user.name)

    def set_password(self, user: User, name: str, password: str) -> None:
        require(user, "users")
        if self.ctx.accounts.get(name) is None:
            raise AccountError(f"no user {name!r}")
        self.ctx.accounts.set_password(name, password, actor=user.name)

    def set(self, user: User, name: str, change: UserChange) -> User:
        """Change an account's role, groups or whether it may sign in (disabling ends its sessions and keys
        at once). An admin cannot disable or demote themselves: a site must not lose its last way in."""
        require(user, "users")
        if name == user.name and (change.disabled or (change.role not in (None, "admin"))):
            raise AccountError("you cannot disable or demote your own account; ask another admin")
        return self.ctx.accounts.update_user(name, change, actor=user.name)

    def new_key(self, user: User, name: str) -> str:
        require(user, "users")
        return self.ctx.accounts.new_api_key(name, actor=user.name)

    def remove(self, user: User, name: str) -> None:
        require(user, "users")
        self.ctx.accounts.remove_user(name, actor=user.name)

    # -- the audit log ------------------------------------------------------------------------------------
    def audit(
        self, user: User, limit: int = 100, actor: str | None = None, action: str | None = None
    ) -> list[dict[str, Any]]:
        """The audit log, newest first, for admins (and the operator): [{"time","actor","action","detail"}].
        `actor`: that actor only (an account's name, or `cli:<os user>`); `action`: actions containing this
        text, case-insensitive (`engine` finds promote, demote, remove and export engine)."""
        require(user, "users")
        if limit < 1:
            raise InputError(f"limit must be at least 1, not {limit}")
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if actor:
            query = query.where(audit_log.c.actor == actor.strip())
        if action:
            escaped = action.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(audit_log.c.action).like(f"%{escaped}%", escape="\\"))
        with self.ctx.db.engine.connect() as conn:
            return [{"time": r.time, "actor": r.actor, "action": r.action, "detail": r.detail}
                    for r in conn.execute(query)]

    def ensure_demo_accounts(self, user: User) -> list[str]:
        """The demo home's accounts, one per role, created where missing; lines telling how to sign in."""
        require(user, "users")
        lines = ensure_demo_accounts(self.ctx.settings)
        self.ctx.audit(user, "demo accounts")
        return lines
