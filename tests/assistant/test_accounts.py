"""Accounts: password hashing, login throttling, sessions, API keys, roles, and `assistant users`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from assistant.accounts import (
    BAD_LOGIN,
    DISABLED,
    PERMISSIONS,
    ROLES,
    AccountError,
    Accounts,
    AuthError,
    User,
    UserChange,
)
from assistant.appdb import AppDB, sessions, users
from assistant.cli.users import users_app
from tests.conftest import run_cli
from tests.postgres import DATABASES, database_url, postgres_server  # noqa: F401


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=DATABASES)
def db(request: pytest.FixtureRequest, tmp_path: Path):
    """Each test runs on SQLite and on a PostgreSQL server (tests/postgres.py)."""
    database = AppDB(database_url(request, tmp_path))
    yield database
    database.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def delays() -> list[float]:
    return []


@pytest.fixture
def accts(db: AppDB, clock: FakeClock, delays: list[float]) -> Accounts:
    return Accounts(db, session_ttl_s=60, max_failures=5, lockout_s=30.0, clock=clock, sleep=delays.append)


def stored_hash(db: AppDB, name: str) -> str:
    with db.engine.connect() as conn:
        return conn.execute(select(users.c.password_hash).where(users.c.name == name)).scalar_one()


def db_bytes(request: pytest.FixtureRequest, db: AppDB, tmp_path: Path) -> bytes:
    """The database and its WAL/journal files, as an attacker copying the folder would get them."""
    if db.engine.dialect.name == "postgresql":
        return request.getfixturevalue("postgres_server").database_bytes(db.engine.url.database)
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("app.db*")))


def test_passwords_are_salted_scrypt_hashes(accts: Accounts, db: AppDB) -> None:
    accts.add_user("alice", "staff", None, "correct horse")
    accts.add_user("bob", "staff", None, "correct horse")
    a, b = stored_hash(db, "alice"), stored_hash(db, "bob")
    assert "correct horse" not in a
    assert a.startswith("scrypt$") and len(a.split("$")) == 6
    assert a.split("$")[4] != b.split("$")[4], "each user gets their own salt"
    assert a.split("$")[5] != b.split("$")[5]
    assert accts.authenticate("alice", "correct horse") == User("alice", "staff", ())


def test_wrong_password_and_unknown_user_look_the_same(accts: Accounts) -> None:
    accts.add_user("alice", "staff", None, "correct horse")
    with pytest.raises(AuthError) as wrong:
        accts.authenticate("alice", "wrong horse")
    with pytest.raises(AuthError) as unknown:
        accts.authenticate("mallory", "correct horse")
    assert str(wrong.value) == str(unknown.value) == BAD_LOGIN

    def best_of_3(name: str) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            with pytest.raises(AuthError):
                accts.authenticate(name, "wrong horse")
            times.append(time.perf_counter() - t0)
        return min(times)

    # An unknown name still runs scrypt: it must not answer in a fraction of the time.
    assert best_of_3("nobody") > 0.25 * best_of_3("alice")


def test_logins_are_throttled_then_locked_out(accts: Accounts, db: AppDB, clock: FakeClock,
                                              delays: list[float]) -> None:
    accts.add_user("alice", "staff", None, "correct horse")
    for _ in range(5):
        with pytest.raises(AuthError, match=BAD_LOGIN):
            accts.authenticate("alice", "guess")
    assert delays == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0]), "the delay grows with each failure"

    # Locked: even the right password is refused, without being checked.
    with pytest.raises(AuthError, match=r"^too many failed attempts; try again in 30 s$"):
        accts.authenticate("alice", "correct horse")
    clock.now += 10
    with pytest.raises(AuthError, match=r"try again in 20 s"):
        accts.authenticate("alice", "correct horse")
    # Another process on the same database sees the same lock.
    other = Accounts(AppDB(db.url), lockout_s=30.0, clock=clock, sleep=delays.append)
    with pytest.raises(AuthError, match="too many failed attempts"):
        other.authenticate("alice", "correct horse")

    clock.now += 21
    assert accts.authenticate("alice", "correct horse").name == "alice"
    delays.clear()
    with pytest.raises(AuthError, match=BAD_LOGIN):
        accts.authenticate("alice", "guess")
    assert delays == [pytest.approx(0.2)], "a successful login resets the count"


def test_failure_delay_is_capped(db: AppDB, clock: FakeClock, delays: list[float]) -> None:
    accts = Accounts(db, max_failures=100, clock=clock, sleep=delays.append)
    for _ in range(11):
        with pytest.raises(AuthError):
            accts.authenticate("ghost", "whatever1")
    assert max(delays) == pytest.approx(2.0) and delays[-1] == pytest.approx(2.0)


def test_sessions_expire(accts: Accounts, db: AppDB, clock: FakeClock) -> None:
    user = accts.add_user("alice", "evaluator", ["sales"], "correct horse")
    token = accts.create_session(user)
    assert accts.session_user(token) == user
    assert accts.session_user("not-a-token") is None and accts.session_user(None) is None
    clock.now += 59
    assert accts.session_user(token) == user
    clock.now += 2
    assert accts.session_user(token) is None
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sessions)).scalar() == 0, "expired row deleted"

    token = accts.create_session(user)
    accts.end_session(token)
    assert accts.session_user(token) is None


def test_api_keys_and_tokens_are_stored_only_as_hashes(accts: Accounts, db: AppDB, tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    user = accts.add_user("alice", "admin", None, "correct horse")
    key = accts.new_api_key("alice")
    token = accts.create_session(user)
    assert key.startswith("sk-") and len(key) > 40
    assert accts.user_for_api_key(key) == user
    assert accts.user_for_api_key(key + "x") is None and accts.user_for_api_key(None) is None
    assert accts.new_api_key("alice") != key
    raw = db_bytes(request, db, tmp_path)
    assert b"alice" in raw, "the files read are the database"
    assert key.encode() not in raw and key[3:].encode() not in raw
    assert token.encode() not in raw
    with pytest.raises(AccountError, match="no user"):
        accts.new_api_key("nobody")


def test_removed_user_loses_sessions_and_keys(accts: Accounts, db: AppDB) -> None:
    user = accts.add_user("alice", "staff", None, "correct horse")
    key, token = accts.new_api_key("alice"), accts.create_session(user)
    accts.remove_user("alice")
    assert accts.get("alice") is None
    assert accts.session_user(token) is None
    assert accts.user_for_api_key(key) is None
    with pytest.raises(AuthError, match=BAD_LOGIN):
        accts.authenticate("alice", "correct horse")
    with pytest.raises(AccountError, match="no user"):
        accts.remove_user("alice")
    # The name is free again, and the old key does not come back with it.
    accts.add_user("alice", "staff", None, "another secret")
    assert accts.user_for_api_key(key) is None


def test_new_password_replaces_old_and_ends_sessions(accts: Accounts) -> None:
    user = accts.add_user("alice", "staff", None, "correct horse")
    token = accts.create_session(user)
    accts.set_password("alice", "battery staple")
    assert accts.session_user(token) is None
    with pytest.raises(AuthError):
        accts.authenticate("alice", "correct horse")
    assert accts.authenticate("alice", "battery staple") == user
    with pytest.raises(AccountError, match="at least 8"):
        accts.set_password("alice", "short")
    with pytest.raises(AccountError, match="no user"):
        accts.set_password("nobody", "long enough")


def test_users_set_changes_role_and_groups_for_open_sessions(accts: Accounts, db: AppDB) -> None:
    user = accts.add_user("alice", "staff", ["sales"], "correct horse")
    token, key = accts.create_session(user), accts.new_api_key("alice")
    changed = accts.update_user("alice", UserChange(role="evaluator", groups=["board", "sales"]), actor="root")
    assert changed == User("alice", "evaluator", ("board", "sales"))
    # The open session and the key see the new role and groups at once.
    assert accts.session_user(token) == changed and accts.user_for_api_key(key) == changed
    assert accts.update_user("alice", UserChange(groups=[])).groups == ()
    with pytest.raises(AccountError, match="unknown role 'root'"):
        accts.update_user("alice", UserChange(role="root"))
    with pytest.raises(AccountError, match="bad group name"):
        accts.update_user("alice", UserChange(groups=["no spaces allowed"]))
    with pytest.raises(AccountError, match="nothing to change"):
        accts.update_user("alice", UserChange())
    with pytest.raises(AccountError, match="no user 'nobody'"):
        accts.update_user("nobody", UserChange(role="staff"))
    entry = [e for e in db.audit_entries() if e["action"] == "user.set"][-1]  # the first change
    assert entry["actor"] == "root" and "role=evaluator" in entry["detail"] and "board,sales" in entry["detail"]


def test_disabling_ends_sessions_and_keys_at_once(accts: Accounts) -> None:
    user = accts.add_user("alice", "staff", None, "correct horse")
    token, key = accts.create_session(user), accts.new_api_key("alice")
    disabled = accts.update_user("alice", UserChange(disabled=True))
    assert disabled.disabled and not disabled.can("chat")
    assert accts.session_user(token) is None and accts.user_for_api_key(key) is None
    with pytest.raises(AuthError, match=DISABLED):  # the right password: told why, not "wrong password"
        accts.authenticate("alice", "correct horse")
    with pytest.raises(AuthError, match=BAD_LOGIN):
        accts.authenticate("alice", "wrong password")
    with pytest.raises(AccountError, match="enable the account first"):
        accts.new_api_key("alice")
    accts.update_user("alice", UserChange(disabled=False))
    assert accts.authenticate("alice", "correct horse") == user
    assert accts.user_for_api_key(key) is None, "a re-enabled account needs a new key"


def test_external_sign_in_creates_then_follows_the_provider(accts: Accounts, db: AppDB) -> None:
    first = accts.sign_in_external("olivia", "staff", ["board"], "oidc")
    assert first == User("olivia", "staff", ("board",), False, "oidc")
    with pytest.raises(AuthError, match=BAD_LOGIN):  # no password of ours lets an SSO account in
        accts.authenticate("olivia", "!")
    # Each sign-in replaces role and groups with what the provider says now.
    assert accts.sign_in_external("olivia", "admin", [], "oidc") == User("olivia", "admin", (), False, "oidc")
    with pytest.raises(AccountError, match="no password here"):
        accts.set_password("olivia", "correct horse")
    accts.update_user("olivia", UserChange(disabled=True))
    with pytest.raises(AuthError, match=DISABLED):
        accts.sign_in_external("olivia", "staff", [], "oidc")
    # A password account is never taken over by a provider's user of the same name.
    accts.add_user("root-admin", "admin", None, "correct horse")
    with pytest.raises(AuthError, match="signs in with password, not oidc"):
        accts.sign_in_external("root-admin", "admin", [], "oidc")
    assert accts.get("root-admin") == User("root-admin", "admin", ())
    actions = [e["action"] for e in db.audit_entries()]
    assert actions.count("user.oidc") == 2


def test_add_user_validation(accts: Accounts) -> None:
    accts.add_user("alice", "staff", ["sales", " sales ", ""], "correct horse")
    assert accts.get("alice") == User("alice", "staff", ("sales",))
    with pytest.raises(AccountError, match="already exists"):
        accts.add_user("alice", "admin", None, "correct horse")
    for role in ("root", "operator"):  # the operator is the command line, never an account
        with pytest.raises(AccountError, match="unknown role"):
            accts.add_user("bob", role, None, "correct horse")
    for bad_password in ("", "seven77"):
        with pytest.raises(AccountError, match="at least 8"):
            accts.add_user("bob", "staff", None, bad_password)
    for bad_name in ("", "a b", "-dash", "x" * 65, "bob;drop"):
        with pytest.raises(AccountError, match="bad user name"):
            accts.add_user(bad_name, "staff", None, "correct horse")
    with pytest.raises(AccountError, match="bad group"):
        accts.add_user("bob", "staff", ["a group"], "correct horse")
    assert [u.name for u in accts.list_users()] == ["alice"]


def test_role_permissions() -> None:
    staff, evaluator, admin = (User("u", role, ()) for role in ("staff", "evaluator", "admin"))
    # Every account role has permissions; "operator" (the CLI without --user) is no account's role.
    assert set(PERMISSIONS) == set(ROLES) | {"operator"} and "operator" not in ROLES
    assert User("cli", "operator", ()).can("unrestricted") and not admin.can("unrestricted")
    assert staff.can("chat") and not staff.can("reports") and not staff.can("users")
    assert evaluator.can("reports") and not evaluator.can("documents") and not evaluator.can("jobs:all")
    assert all(admin.can(p) for p in ("chat", "documents", "users", "engines", "reports", "jobs:all"))
    assert not User("u", "unknown", ()).can("chat")
    assert admin.to_json() == {"user": "u", "role": "admin", "groups": [], "disabled": False,
                             "sign_in": "password"}


def test_changes_are_audited(accts: Accounts, db: AppDB) -> None:
    accts.add_user("alice", "staff", None, "correct horse", actor="root")
    accts.new_api_key("alice", actor="root")
    accts.set_password("alice", "battery staple", actor="root")
    accts.remove_user("alice", actor="root")
    actions = [(e["actor"], e["action"]) for e in reversed(db.audit_entries())]
    assert actions == [("root", "user.add"), ("root", "apikey.new"), ("root", "user.password"),
                       ("root", "user.remove")]
    assert all(e["time"] for e in db.audit_entries())


# -- the command line ----------------------------------------------------------------------------
# The real `assistant` command runs in a subprocess once (it is slow to start); the other cases
# call the same Typer app in-process.

def test_cli_users_add_and_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    res = run_cli("users", "add", "alice", "--role", "admin", "--groups", "sales,legal", "--password-stdin",
                  "--json", home=home, input="correct horse\n", timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"user": "alice", "role": "admin", "groups": ["sales", "legal"],
                                      "disabled": False, "sign_in": "password"}

    res = run_cli("users", "key", "alice", "--json", home=home, timeout=60)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["user"] == "alice" and out["key"].startswith("sk-")

    db = AppDB(f"sqlite:///{home / 'app.db'}")
    try:
        accts = Accounts(db, sleep=lambda s: None)
        assert accts.user_for_api_key(out["key"]) == User("alice", "admin", ("sales", "legal"))
        assert accts.authenticate("alice", "correct horse").name == "alice"
        audited = [e for e in db.audit_entries() if e["action"] in ("user.add", "apikey.new")]
        assert len(audited) == 2 and all(e["actor"].startswith("cli") for e in audited)
    finally:
        db.close()


def test_cli_users_in_process(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(users_app, [*args, "--home", home], input=input)

    # Without --password-stdin the password is asked twice, hidden.
    res = invoke("add", "carol", "--role", "evaluator", input="correct horse\ncorrect horse\n")
    assert res.exit_code == 0, res.output
    assert "correct horse" not in res.stdout
    res = invoke("add", "dave", "--role", "staff", input="correct horse\nsomething else\ncorrect horse\n"
                 "correct horse\n")
    assert res.exit_code == 0, res.output

    res = invoke("key", "carol")
    key = res.stdout.strip()
    assert res.exit_code == 0 and key.startswith("sk-") and res.stdout == key + "\n"

    res = invoke("list", "--json")
    assert res.exit_code == 0
    plain = {"disabled": False, "sign_in": "password"}
    assert json.loads(res.stdout) == [{"user": "carol", "role": "evaluator", "groups": [], **plain},
                                      {"user": "dave", "role": "staff", "groups": [], **plain}]

    res = invoke("set", "dave", "--role", "evaluator", "--groups", "board,legal", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"user": "dave", "role": "evaluator", "groups": ["board", "legal"], **plain}
    res = invoke("set", "dave", "--disable")
    assert res.exit_code == 0 and res.stdout == "dave: evaluator; groups: board, legal; disabled\n"
    res = invoke("set", "dave", "--enable", "--groups", "", "--json")
    assert json.loads(res.stdout)["groups"] == [] and json.loads(res.stdout)["disabled"] is False
    res = invoke("set", "dave")
    assert res.exit_code == 2 and "nothing to change" in res.stderr
    res = invoke("set", "nobody", "--role", "staff")
    assert res.exit_code == 2 and "no user 'nobody'" in res.stderr

    res = invoke("password", "carol", "--password-stdin", input="battery staple\n")
    assert res.exit_code == 0, res.output
    res = invoke("add", "carol", "--role", "staff", "--password-stdin", input="correct horse\n")
    assert res.exit_code == 2 and "already exists" in res.stderr
    res = invoke("add", "bob", "--role", "root", "--password-stdin", input="correct horse\n")
    assert res.exit_code == 2 and res.stdout == "" and isinstance(res.exception, SystemExit)
    assert "unknown role 'root'" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = invoke("add", "erin", "--role", "staff", "--password-stdin", input="short\n")
    assert res.exit_code == 2 and "at least 8" in res.stderr

    res = invoke("remove", "carol")
    assert res.exit_code == 0
    res = invoke("remove", "carol")
    assert res.exit_code == 2 and "no user 'carol'" in res.stderr

    db = AppDB(f"sqlite:///{tmp_path / 'home' / 'app.db'}")
    try:
        accts = Accounts(db, sleep=lambda s: None)
        assert accts.user_for_api_key(key) is None
        assert [u.name for u in accts.list_users()] == ["dave"]
        actions = [e["action"] for e in reversed(db.audit_entries())]
        assert actions == ["user.add", "user.add", "apikey.new", "user.set", "user.set", "user.set", "user.password",
                           "user.remove"]
    finally:
        db.close()
