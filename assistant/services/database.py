"""The application database itself: where its schema stands and bringing it to this version's head
(`assistant db current|upgrade`). Only the operator (the command line on the server) may do this: a schema
upgrade concerns every process sharing the database.

Both open their own connection without the start-up upgrade of `AppDB(url)`, so they report what they
found (and `current` changes nothing).
"""

from __future__ import annotations

from typing import Any

from assistant.accounts import User
from assistant.appdb import AppDB, SchemaTooNew, make_sqlite_folder
from assistant.errors import PermissionDenied
from assistant.services.base import ServiceContext


class DatabaseService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _check(self, user: User) -> None:
        if not user.can("unrestricted"):
            raise PermissionDenied(
                f"{user.name} ({user.role}) may not manage the database: only the operator (the command line "
                "on the server, without --user) may"
            )

    def _open(self) -> AppDB:
        url = self.ctx.settings.database_address()
        make_sqlite_folder(url)
        return AppDB(url, upgrade=False)

    def current(self, user: User) -> dict[str, Any]:
        """{"url","revision","head","state"}: state current | behind | ahead | empty | unversioned."""
        self._check(user)
        db = self._open()
        try:
            return db.schema().to_json()
        finally:
            db.close()

    def upgrade(self, user: User) -> dict[str, Any]:
        """{"url","from","to","upgraded","created"}; audited when it changed the schema. Refuses a database
        a newer version of the application migrated (SchemaTooNew, naming both revisions)."""
        self._check(user)
        db = self._open()
        try:
            done = db.upgrade()
            if done.upgraded:
                db.audit(user.name, "db.upgrade", f"{done.before or 'new'} -> {done.after}")
            return done.to_json()
        finally:
            db.close()


__all__ = ["DatabaseService", "SchemaTooNew"]
