"""Password sign-in checked by a directory ([auth.ldap]) against a real OpenLDAP server (tests/ldap_server.py):
the directory's groups become the account's groups and role at each sign-in; our own password accounts
are never sent to it; a wrong password, an injected name and a directory that does not answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.accounts import BAD_LOGIN, AuthError
from assistant.config import load_settings
from assistant.errors import Unavailable
from assistant.services import Services, UserChange, operator
from tests.conftest import free_port
from tests.ldap_server import ldap_server  # noqa: F401


def services_for(tmp_path: Path, toml: str) -> Services:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(toml)
    return Services(load_settings(home))


def test_directory_users_sign_in_with_their_groups(ldap_server, tmp_path: Path) -> None:  # noqa: F811
    svc = services_for(tmp_path, ldap_server.config_toml())
    try:
        user, token = svc.users.login("lena", "lena-password-1")
        assert (user.name, user.role, user.groups, user.sign_in) == (
            "lena", "admin", ("leadership", "assistant-admins"), "ldap")
        assert svc.users.session_user(token) == user
        leo, _ = svc.users.login("leo", "leo-password-1")
        assert (leo.role, leo.groups) == ("staff", ())
        for name, password in (("lena", "wrong-password"), ("nobody", "whatever-123"), ("lena)(uid=*", "x" * 9)):
            with pytest.raises(AuthError, match=BAD_LOGIN):
                svc.users.login(name, password)
        # Our own password account of another name still signs in here, and is never sent to the directory.
        svc.users.add(operator(), "breakglass", "admin", [], "local-password-1")
        assert svc.users.login("breakglass", "local-password-1")[0].sign_in == "password"
        # A disabled directory account stays out, even with the right password.
        svc.users.set(operator(), "leo", UserChange(disabled=True))
        with pytest.raises(AuthError, match="disabled"):
            svc.users.login("leo", "leo-password-1")
    finally:
        svc.close()


def test_a_directory_that_does_not_answer_is_named(tmp_path: Path) -> None:
    url = f"ldap://127.0.0.1:{free_port()}"
    svc = services_for(tmp_path, f'[auth.ldap]\nurl = "{url}"\ntimeout_s = 2\n')
    try:
        with pytest.raises(Unavailable, match=f"the directory at {url} does not answer"):
            svc.users.login("lena", "lena-password-1")
    finally:
        svc.close()
