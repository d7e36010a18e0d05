"""Header mode behind an authenticating proxy ([auth] trusted_header_user): the app believes the headers
from a trusted proxy's address only; anyone else sending them is not signed in."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def app(tmp_path: Path):
    from assistant.config import load_settings
    from assistant.services import Services
    from ui.server import create_app

    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[auth]\ntrusted_header_user = "X-Forwarded-User"\n'
                                      'trusted_header_groups = "X-Forwarded-Groups"\ntrusted_proxies = ["10.0.0.0/8"]\n'
                                      'role_map = { "admins" = "admin" }\n')
    services = Services(load_settings(home))
    yield create_app(services.settings, services), services
    services.close()


def test_headers_sign_in_only_from_a_trusted_proxy(app) -> None:
    app, services = app
    headers = {"X-Forwarded-User": "pat", "X-Forwarded-Groups": "leadership,admins"}
    with TestClient(app, client=("10.2.3.4", 40000)) as proxy:
        page = proxy.get("/", headers=headers, follow_redirects=False)
        assert page.status_code == 200 and "gradio" in page.text.lower()
        # Signed in: an unknown document is "not found", not "sign in first".
        assert proxy.get("/document", params={"source": "nope"}, headers=headers).status_code == 404
        assert proxy.get("/", follow_redirects=False).status_code == 303, "no header: not signed in"
    account = services.users.find("pat")
    assert (account.role, account.groups, account.sign_in) == ("admin", ("leadership", "admins"), "header")
    with TestClient(app, client=("192.168.7.7", 40000)) as stranger:
        assert stranger.get("/", headers=headers, follow_redirects=False).status_code == 303
        assert stranger.get("/document", params={"source": "nope"}, headers=headers).status_code == 401
    # An admin disables pat: the proxy's headers no longer sign them in.
    from assistant.services import UserChange, operator

    services.users.set(operator(), "pat", UserChange(disabled=True))
    with TestClient(app, client=("10.2.3.4", 40000)) as proxy:
        assert proxy.get("/", headers=headers, follow_redirects=False).status_code == 303
