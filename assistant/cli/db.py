"""The application database on the command line: `db current`, `db upgrade` (`assistant.services.database`).

Every process brings the schema to its version's head when it opens the database; `db upgrade` does it
explicitly (before starting several processes on a shared database, say), `db current` only reports.
"""

from __future__ import annotations

import typer

from assistant.cli.common import HomeOpt, JsonOpt, emit_json, new_app, services
from assistant.services import operator
from assistant.services.database import DatabaseService

db_app = new_app("The application database: its schema revision and migrations.", name="db", no_args_is_help=True)

STATES = {
    "current": "current",
    "behind": "behind this version's; `assistant db upgrade` (or any start) upgrades it",
    "ahead": "NEWER than this version of the application knows: upgrade the application",
    "empty": "empty; `assistant db upgrade` (or any start) creates it",
    "unversioned": "made before migrations; `assistant db upgrade` (or any start) adopts and upgrades it",
}


def _service(home: HomeOpt, quiet: bool) -> DatabaseService:
    return services(home, quiet=quiet).database


@db_app.command("upgrade")
def upgrade(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Bring the database's schema to this version's (a new database is created); refuses a newer one."""
    done = _service(home, as_json).upgrade(operator())
    if as_json:
        emit_json(done)
    elif done["created"]:
        typer.echo(f"database created at schema {done['to']} ({done['url']})")
    elif done["upgraded"]:
        typer.echo(f"database schema upgraded from {done['from']} to {done['to']} ({done['url']})")
    else:
        typer.echo(f"database schema is current at {done['to']} ({done['url']})")


@db_app.command("current")
def current(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """The database's schema revision against this version's newest; changes nothing."""
    state = _service(home, as_json).current(operator())
    if as_json:
        emit_json(state)
    else:
        typer.echo(f"{state['url']}: revision {state['revision'] or 'none'} (this version's newest: "
                   f"{state['head']}): {STATES[state['state']]}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
