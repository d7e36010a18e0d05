"""Users on the command line: `users add|set|password|key|list|remove` and `audit` (`assistant.services.users`).

Accounts of the web app and the API. These commands never touch the index or a model, so they stay quick.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from assistant.accounts import ROLES
from assistant.cli.common import (
    HomeOpt,
    JsonOpt,
    acting_user,
    emit_json,
    err_console,
    fail,
    new_app,
    services,
)
from assistant.services import UserChange, operator

users_app = new_app("User accounts of the web UI and the API.", name="users", no_args_is_help=True)

PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (for scripts).")
]


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
    svc = services(home)
    group_list = [g for g in (groups or "").split(",") if g.strip()]
    svc.users.check_new(operator(), name, role)  # what can be refused before asking for a password twice
    user = svc.users.add(operator(), name, role, group_list, read_password(password_stdin))
    if as_json:
        emit_json(user.to_json())
    else:
        groups_text = ", ".join(user.groups) or "all unrestricted documents"
        typer.echo(f"added {user.name} ({user.role}; groups: {groups_text})")


@users_app.command("set")
def set_user(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str | None, typer.Option("--role", help=f"A new role: {', '.join(ROLES)}.")] = None,
    groups: Annotated[
        str | None,
        typer.Option("--groups", help="The new comma-separated groups (replacing the old ones); \"\" for none."),
    ] = None,
    disable: Annotated[
        bool | None,
        typer.Option("--disable/--enable",
                     help="--disable: no more sign-ins; open sessions and API keys end at once. --enable: undo it."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Act as this account (admins only); without it, the operator.")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a user's role, groups, or whether they may sign in (the change applies to open sessions at once)."""
    svc = services(home)
    group_list = None if groups is None else [g for g in groups.split(",") if g.strip()]
    changed = svc.users.set(acting_user(svc, user), name, UserChange(role, group_list, disable))
    if as_json:
        emit_json(changed.to_json())
    else:
        state = "disabled" if changed.disabled else "enabled"
        typer.echo(f"{changed.name}: {changed.role}; groups: {', '.join(changed.groups) or '-'}; {state}")


@users_app.command("password")
def password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: PasswordStdinOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a new password (the user's open web sessions end)."""
    svc = services(home)
    svc.users.find(name)  # an unknown name fails before the password is asked for
    svc.users.set_password(operator(), name, read_password(password_stdin))
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
    api_key = services(home).users.new_key(operator(), name)
    if as_json:
        emit_json({"user": name, "key": api_key})
    else:
        typer.echo(api_key)


@users_app.command("list")
def list_users(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List users with their roles and groups."""
    found = services(home).users.list(operator())
    if as_json:
        emit_json([u.to_json() for u in found])
        return
    if not found:
        err_console.print("no users yet: add one with `assistant users add NAME --role admin`")
        return
    table = Table("user", "role", "groups", "sign-in", "state")
    for u in found:
        table.add_row(u.name, u.role, ", ".join(u.groups), u.sign_in, "disabled" if u.disabled else "enabled")
    Console().print(table)


@users_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="User name.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a user; their sessions and API keys stop working at once."""
    services(home).users.remove(operator(), name)
    if as_json:
        emit_json({"removed": name})
    else:
        typer.echo(f"removed {name}")


def audit(
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="Most entries, newest first.")] = 100,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only this actor: an account, or cli:OS-USER for the command line.")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Only actions containing this text, e.g. engine or user.add.")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Act as this account (admins only); without it, the operator.")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit log (admins): who changed what, newest first."""
    svc = services(home)
    entries = svc.users.audit(acting_user(svc, user), limit=limit, actor=actor, action=action)
    if as_json:
        emit_json(entries)
        return
    if not entries:
        err_console.print("no audit entries" + (" match" if actor or action else " yet"))
        return
    table = Table("time", "actor", "action", "detail")
    for e in entries:
        table.add_row(e["time"], e["actor"] or "-", e["action"], e["detail"])
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.command("audit")(audit)
