"""`assistant users …`: accounts for the web UI and the API.

Kept apart from assistant/cli.py and free of its heavy imports (models, indexes): managing users
must be quick and must not need the index.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from assistant.accounts import ROLES, AccountError, Accounts
from assistant.appdb import AppDB
from assistant.cli_common import HomeOpt, JsonOpt, emit_json, err_console, fail
from assistant.config import ConfigError, load_settings

users_app = typer.Typer(
    name="users",
    help="User accounts of the web UI and the API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (for scripts).")
]


def accounts(home: Path | None) -> Accounts:
    try:
        return Accounts(AppDB.for_settings(load_settings(home)))
    except ConfigError as err:
        fail(str(err))


def actor() -> str:
    """Who to name in the audit log: the operating-system account that ran the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin: nothing on stdin")
        return line.rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
    groups: Annotated[
        str | None, typer.Option("--groups", help="Comma-separated groups: which restricted documents they see.")
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user; the password is asked twice (hidden) unless --password-stdin."""
    accts = accounts(home)
    group_list = [g for g in (groups or "").split(",") if g.strip()]
    try:
        # Check what can be checked before asking for a password twice.
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        if accts.get(name) is not None:
            raise AccountError(f"user {name!r} already exists")
        user = accts.add_user(name, role, group_list, read_password(password_stdin), actor=actor())
    except AccountError as err:
        fail(str(err))
    if as_json:
        emit_json(user.to_json())
    else:
        groups_text = ", ".join(user.groups) or "all unrestricted documents"
        typer.echo(f"added {user.name} ({user.role}; groups: {groups_text})")


@users_app.command("password")
def password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: PasswordStdinOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a new password (the user's open web sessions end)."""
    accts = accounts(home)
    try:
        if accts.get(name) is None:
            raise AccountError(f"no user {name!r}")
        accts.set_password(name, read_password(password_stdin), actor=actor())
    except AccountError as err:
        fail(str(err))
    if as_json:
        emit_json({"user": name, "password": "changed"})
    else:
        typer.echo(f"password of {name} changed")


@users_app.command("key")
def key(
    name: Annotated[str, typer.Argument(help="User name.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A new API key for this user (shown once; only its hash is stored)."""
    try:
        api_key = accounts(home).new_api_key(name, actor=actor())
    except AccountError as err:
        fail(str(err))
    if as_json:
        emit_json({"user": name, "key": api_key})
    else:
        typer.echo(api_key)


@users_app.command("list")
def list_users(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List users with their roles and groups."""
    found = accounts(home).list_users()
    if as_json:
        emit_json([u.to_json() for u in found])
        return
    if not found:
        err_console.print("no users yet: add one with `assistant users add NAME --role admin`")
        return
    table = Table("user", "role", "groups")
    for u in found:
        table.add_row(u.name, u.role, ", ".join(u.groups))
    Console().print(table)


@users_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="User name.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a user; their sessions and API keys stop working at once."""
    try:
        accounts(home).remove_user(name, actor=actor())
    except AccountError as err:
        fail(str(err))
    if as_json:
        emit_json({"removed": name})
    else:
        typer.echo(f"removed {name}")


if __name__ == "__main__":
    users_app()
