"""The audit log's viewer: `UsersService.audit` (admins, newest first, filters) and `assistant audit`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.errors import UserError
from assistant.services import Services, User, operator
from tests.conftest import run_cli


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    home = tmp_path / "home"
    home.mkdir()
    services = Services(load_settings(home))
    yield services
    services.close()


@pytest.fixture
def ada(svc: Services) -> User:
    """An admin added by the operator, who then adds a staff account and gives it a key."""
    root = operator("cli:root")
    svc.users.add(root, "ada", "admin", [], "ada-password-1")
    ada = svc.users.find("ada")
    svc.users.add(ada, "sam", "staff", [], "sam-password-1")
    svc.users.new_key(ada, "sam")
    return ada


def test_admin_reads_the_audit_log_newest_first_with_filters(svc: Services, ada: User) -> None:
    entries = svc.users.audit(ada)
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("ada", "apikey.new"), ("ada", "user.add"), ("cli:root", "user.add"),
    ]
    assert entries[1]["detail"].startswith("sam role=staff") and all(e["time"] for e in entries)
    assert entries[0]["time"] >= entries[1]["time"] >= entries[2]["time"]

    assert [e["action"] for e in svc.users.audit(ada, actor="cli:root")] == ["user.add"]
    assert [e["actor"] for e in svc.users.audit(ada, action="USER.")] == ["ada", "cli:root"]  # any case
    assert svc.users.audit(ada, action="%") == [] and svc.users.audit(ada, action="user_add") == []  # literal
    assert [e["action"] for e in svc.users.audit(ada, limit=1)] == ["apikey.new"]
    assert len(svc.users.audit(operator())) == 3  # the operator may read it too
    with pytest.raises(UserError) as err:
        svc.users.audit(ada, limit=0)
    assert err.value.kind == "invalid"


def test_staff_and_evaluators_may_not_read_the_audit_log(svc: Services, ada: User) -> None:
    svc.users.add(ada, "eve", "evaluator", [], "eve-password-1")
    for name in ("sam", "eve"):
        with pytest.raises(UserError) as err:
            svc.users.audit(svc.users.find(name))
        assert err.value.kind == "denied" and "admin" in str(err.value)
    with pytest.raises(UserError) as err:
        svc.users.audit(None)  # type: ignore[arg-type]  # an expired session
    assert err.value.kind == "denied"


@pytest.mark.slow
def test_assistant_audit_json_on_a_home(make_home) -> None:
    home = make_home()
    for name, role in (("ada", "admin"), ("sam", "staff")):
        res = run_cli("users", "add", name, "--role", role, "--password-stdin", home=home, input=f"{name}-password-1\n")
        assert res.returncode == 0, res.stderr

    res = run_cli("audit", "--json", home=home)
    assert res.returncode == 0, res.stderr
    entries = json.loads(res.stdout)  # exactly one JSON document on stdout
    assert [(e["action"], e["detail"].split()[0]) for e in entries] == [("user.add", "sam"), ("user.add", "ada")]
    assert all(e["actor"].startswith("cli") and set(e) == {"time", "actor", "action", "detail"} for e in entries)

    res = run_cli("audit", "--json", "--user", "ada", "--limit", "1", "--action", "user.add", home=home)
    assert res.returncode == 0, res.stderr
    assert [e["detail"].split()[0] for e in json.loads(res.stdout)] == ["sam"]

    res = run_cli("audit", "--json", "--user", "sam", home=home)
    assert res.returncode == 2 and res.stdout == "", (res.returncode, res.stdout)
    (line,) = res.stderr.strip().splitlines()
    assert "sam (staff) may not do this" in line and "Traceback" not in res.stderr
