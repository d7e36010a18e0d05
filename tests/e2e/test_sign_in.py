"""Single sign-on and managing people, in a real headless Chromium: `assistant serve` configured with
[auth.oidc] against a real OpenID Connect provider process on loopback (tests/oidc.py), beside a password
admin. The provider's groups decide who sees the restricted Kestrel memo; an admin disables a signed-in
user in the Users tab and that user's session ends at once."""

from __future__ import annotations

import json
import shutil
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import WebServer, free_port, run_cli
from tests.e2e.browser import Shots, sign_in, wait_until
from tests.oidc import oidc_provider  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sso_server(tmp_path_factory: pytest.TempPathFactory, demo_home: Path, oidc_provider):  # noqa: F811
    home = tmp_path_factory.mktemp("sso") / "home"
    shutil.copytree(demo_home, home, symlinks=True)
    (home / "config.toml").write_text("[llm]\nmax_new_tokens = 48\n\n" + oidc_provider.config_toml())
    res = run_cli("users", "add", "ada", "--role", "admin", "--password-stdin", home=home, input="ada-password-1\n")
    assert res.returncode == 0, res.stderr
    res = run_cli("sources", "--json", home=home)
    assert res.returncode == 0, res.stderr
    memo = next(s["source"] for s in json.loads(res.stdout) if "kestrel" in s["source"])
    server = WebServer(home, free_port(), {"ada": "ada-password-1"}, {})
    server.memo = memo  # type: ignore[attr-defined]
    server.start()
    yield server
    server.stop()


def sso_sign_in(browser, server, sub: str, shots: Shots):
    """Through the provider's page, as a person would: our button, then their user's button there."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{server.url}/")
    assert page.url.endswith("/login")
    page.click("#sign-in-sso")
    page.wait_for_url(lambda url: not url.startswith(server.url), timeout=30_000)
    shots(page, f"provider-{sub}")
    page.locator(f"button[name=sub][value={sub}]").click()
    return page


def memo_status(page, server) -> int:
    return page.request.get(f"{server.url}/document", params={"source": server.memo}).status


def test_oidc_sign_in_maps_the_providers_groups(browser, sso_server, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    page = sso_sign_in(browser, sso_server, "olivia", shots)
    page.get_by_text("Signed in as olivia").wait_for(timeout=60_000)
    shots(page, "olivia-signed-in")
    assert memo_status(page, sso_server) == 200, "olivia's groups claim holds leadership: the memo is hers to read"
    assert page.get_by_role("tab", name="Users").count() == 0

    other = sso_sign_in(browser, sso_server, "oscar", shots)
    other.get_by_text("Signed in as oscar").wait_for(timeout=60_000)
    assert memo_status(other, sso_server) == 404, "oscar's groups do not hold leadership"

    admin = sso_sign_in(browser, sso_server, "ines", shots)  # assistant-admins -> admin ([auth] role_map)
    admin.get_by_text("Signed in as ines").wait_for(timeout=60_000)
    assert admin.get_by_role("tab", name="Users").count() == 1
    res = run_cli("users", "list", "--json", home=sso_server.home)
    accounts = {u["user"]: u for u in json.loads(res.stdout)}
    assert accounts["olivia"]["sign_in"] == "oidc" and accounts["olivia"]["groups"] == ["leadership", "staff"]
    assert accounts["ines"]["role"] == "admin"


def test_oidc_refusals_are_shown_on_the_sign_in_page(browser, sso_server, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    # A callback this browser never started (a link someone sent, a forged state).
    page = browser.new_context().new_page()
    page.goto(f"{sso_server.url}/login/oidc/callback?code=anything&state=forged")
    shots(page, "wrong-state")
    assert "did not start in this browser" in page.locator(".error").inner_text()

    # A real sign-in, its answer from the provider recorded, then replayed.
    callbacks: list[str] = []
    page = browser.new_context().new_page()
    page.on("request", lambda r: callbacks.append(r.url) if "/login/oidc/callback" in r.url else None)
    page.goto(f"{sso_server.url}/login")
    page.click("#sign-in-sso")
    page.locator("button[name=sub][value=oscar]").click()
    page.get_by_text("Signed in as oscar").wait_for(timeout=60_000)
    page.goto(callbacks[0])  # the state's cookie went with the first use
    shots(page, "replayed-answer")
    assert "did not start in this browser" in page.locator(".error").inner_text()
    # Its code under a fresh sign-in's state: the provider refuses the used code, and the page says so.
    page.goto(f"{sso_server.url}/logout")
    page.goto(f"{sso_server.url}/login/oidc")  # starts a sign-in: a new state in this browser's cookie
    state = next(c["value"] for c in page.context.cookies() if c["name"] == "assistant_oidc_state")
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callbacks[0]).query))["code"]
    page.goto(f"{sso_server.url}/login/oidc/callback?" + urllib.parse.urlencode({"code": code, "state": state}))
    shots(page, "used-code")
    assert "refused the sign-in code" in page.locator(".error").inner_text()

    page = sso_sign_in(browser, sso_server, "stringy", shots)  # its groups claim is a string
    page.locator(".error").wait_for(timeout=30_000)
    assert "'groups' claim as a string, not a list" in page.locator(".error").inner_text()


def test_disabling_a_user_ends_their_session_at_once(browser, sso_server, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    olivia = sso_sign_in(browser, sso_server, "olivia", shots)
    olivia.get_by_text("Signed in as olivia").wait_for(timeout=60_000)
    admin = sign_in(browser, sso_server, "ada", shots)
    admin.get_by_role("tab", name="Users").click()
    wait_until(lambda: "olivia" in admin.locator("#users-table").inner_text(), 30)
    admin.locator("#set-user input").click()
    admin.get_by_role("option", name="olivia", exact=True).click()
    admin.locator("#set-state").get_by_text("disabled", exact=True).click()
    admin.click("#set-save")
    wait_until(lambda: "signed out everywhere" in admin.locator("#users-status").inner_text(), 30)
    shots(admin, "olivia-disabled")
    assert "disabled" in admin.locator("#users-table").inner_text()
    assert "user.set" in admin.locator("#audit-table").inner_text()

    # Olivia's open page: her next request is refused, a reload is the sign-in page.
    assert memo_status(olivia, sso_server) == 401
    olivia.reload()
    assert "/login" in olivia.url
    shots(olivia, "olivia-signed-out")
    # Signing in again through the provider is refused with the reason.
    olivia.click("#sign-in-sso")
    olivia.locator("button[name=sub][value=olivia]").click()
    olivia.locator(".error").wait_for(timeout=30_000)
    assert "this account is disabled" in olivia.locator(".error").inner_text()
