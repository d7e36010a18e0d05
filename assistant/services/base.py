"""What every feature service shares: the settings, the lazily built components and stores, and the
rules on who may do what. Each service method takes the acting `User` first and checks it here."""

from __future__ import annotations

import getpass
from functools import cached_property
from typing import Any

from assistant.accounts import Accounts, User
from assistant.appdb import AppDB
from assistant.components import Components, Viewer
from assistant.config import Settings
from assistant.errors import PermissionDenied
from assistant.history import History
from assistant.jobs import JobManager
from assistant.uploads import UploadStore
from indexing.metadata import normalise_groups


def operator(name: str | None = None) -> User:
    """The acting user of a command run on the server without --user: every permission, every document.
    Audited under the operating-system account that ran it."""
    if name is None:
        try:
            name = f"cli:{getpass.getuser()}"
        except (KeyError, OSError):
            name = "cli"
    return User(name, "operator", ())


def require(user: User | None, permission: str) -> User:
    if user is None:
        raise PermissionDenied("please sign in again (the session has expired)")
    if not user.can(permission):
        raise PermissionDenied(f"{user.name} ({user.role}) may not do this: it needs the {_needs(permission)} role")
    return user


def _needs(permission: str) -> str:
    return {"reports": "evaluator or admin", "chat": "staff, evaluator or admin"}.get(permission, "admin")


def viewer_of(user: User) -> Viewer:
    """Whose groups filter retrieval: the user's own, or none at all for the operator."""
    return Viewer(user.name, None if user.can("unrestricted") else list(user.groups))


def may_see(user: User, metadata: dict[str, Any]) -> bool:
    """The retrieval rule for whole documents: no `groups` = everyone, else members of one of them."""
    if user.can("unrestricted"):
        return True
    groups = normalise_groups(metadata.get("groups"))
    return not groups or bool(set(groups) & set(user.groups))


class ServiceContext:
    """One per process (or CLI command). Everything is built on first use, so a command that only
    lists sources never loads a model, and one that only indexes never opens the job queue."""

    def __init__(self, settings: Settings, db: AppDB | None = None, components: Components | None = None) -> None:
        self.settings = settings
        self.paths = settings.paths
        self._db = db
        self._components = components

    @cached_property
    def components(self) -> Components:
        return self._components or Components(self.settings)

    @cached_property
    def db(self) -> AppDB:
        return self._db or AppDB.for_settings(self.settings)

    @cached_property
    def accounts(self) -> Accounts:
        return Accounts(self.db, session_ttl_s=int(self.settings.web.session_hours * 3600))

    @cached_property
    def history(self) -> History:
        return History(self.db)

    @cached_property
    def jobs(self) -> JobManager:
        return JobManager(self.db, lease_s=self.settings.jobs.lease_seconds)

    @cached_property
    def uploads(self) -> UploadStore:
        return UploadStore(self.paths.uploads, self.settings.web)

    def audit(self, user: User, action: str, detail: str = "") -> None:
        self.db.audit(user.name, action, detail)

    def close(self) -> None:
        if "jobs" in self.__dict__:
            self.jobs.shutdown(wait=False)
