"""Users: signing in (sessions, API keys) and managing accounts. Only admins (and the operator) manage, and
only they read the audit log; the accounts store writes its audit rows itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from assistant.accounts import ROLES, AccountError, User
from assistant.appdb import audit_log
from assistant.demo_accounts import ensure_demo_accounts
from assistant.errors import InputError, NotFound
from assistant.services.base import ServiceContext, require


class UsersService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- signing in ----------------------------------------------------------------------------------
    def login(self, name: str, password: str) -> tuple[User, str]:
        """(user, session token). Raises AuthError with the same message for a wrong name or password."""
        user = self.ctx.accounts.authenticate(name.strip(), password)
        self.ctx.db.audit(user.name, "login")
        return user, self.ctx.accounts.create_session(user)

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
