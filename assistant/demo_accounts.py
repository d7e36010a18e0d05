"""Sign-in accounts for the demo home, one per role, so a newcomer reaches a working chat at once.

Passwords are random per home and kept in HOME/demo-accounts.txt (readable by its owner only); they
are printed when the demo starts. A real deployment creates its own with `assistant users add`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from assistant.accounts import Accounts
from assistant.appdb import AppDB
from assistant.config import Settings

# The demo corpus restricts two documents to these groups; the demo admin may read them, staff may not.
DEMO_USERS = (("admin", "admin", ["leadership", "finance"]), ("staff", "staff", []), ("evaluator", "evaluator", []))


def ensure_demo_accounts(settings: Settings) -> list[str]:
    """Create the missing demo accounts; lines telling how to sign in."""
    file = settings.paths.home / "demo-accounts.txt"
    known = _read(file)
    accounts = Accounts(AppDB.for_settings(settings))
    for name, role, groups in DEMO_USERS:
        if accounts.get(name) is None:
            known[name] = secrets.token_urlsafe(9)
            accounts.add_user(name, role, groups, known[name])
    _write(file, known)
    lines = [f"Demo accounts (also in {file}):"]
    for name, role, _groups in DEMO_USERS:
        password = known.get(name, "(set before; see `assistant users`)")
        lines.append(f"  {role:<9} user {name:<9} password {password}")
    return lines


def _read(file: Path) -> dict[str, str]:
    if not file.exists():
        return {}
    pairs = (line.split(" ", 1) for line in file.read_text().splitlines() if " " in line)
    return {name: password for name, password in pairs}


def _write(file: Path, known: dict[str, str]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"{name} {password}\n" for name, password in sorted(known.items()))
