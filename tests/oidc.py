"""A real OpenID Connect provider for the single sign-on tests: the `oidc-provider-mock` package (a test
provider built on authlib, in the dev extra) run as its own process on a free loopback port, with
predefined users and their claims. It signs real RS256 ID tokens, publishes its keys (JWKS), requires a
nonce, and issues one-use authorization codes; its sign-in page is a form with one button per user.

    oidc_provider   the module fixture: an OidcProvider (`url`, `users`), stopped at the end
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

# sub: claims. "groups" is what [auth.oidc] groups_claim reads by default.
USERS: dict[str, dict] = {
    "olivia": {"preferred_username": "olivia", "email": "olivia@example.com", "groups": ["leadership", "staff"]},
    "oscar": {"preferred_username": "oscar", "email": "oscar@example.com", "groups": ["staff"]},
    "ines": {"preferred_username": "ines", "groups": ["assistant-admins"]},
    "stringy": {"preferred_username": "stringy", "groups": "leadership"},  # a string, not a list
}


@dataclass
class OidcProvider:
    url: str
    users: dict[str, dict]
    process: subprocess.Popen

    def config_toml(self, client_id: str = "assistant", extra: str = "") -> str:
        """The [auth] tables of a home that signs in with this provider."""
        return (f'[auth]\nrole_map = {{ "assistant-admins" = "admin" }}\n{extra}\n'
                f'[auth.oidc]\nissuer = "{self.url}"\nclient_id = "{client_id}"\nclient_secret = "s3cret"\n'
                'display_name = "Example SSO"\n')


def start_provider(log_file: Path, users: dict[str, dict] = USERS) -> OidcProvider:
    port = free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--host", "127.0.0.1",
            "--require-nonce", "--token-max-age", "300"]
    for sub, claims in users.items():
        args += ["--user-claims", json.dumps({"sub": sub, **claims})]
    log = open(log_file, "w")  # noqa: SIM115 - open for the provider's lifetime
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the OIDC provider exited: {log_file.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/.well-known/openid-configuration", timeout=2).status_code == 200:
                return OidcProvider(url, users, proc)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the OIDC provider did not start within 60 s")


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    provider = start_provider(tmp_path_factory.mktemp("oidc") / "provider.log")
    yield provider
    provider.process.terminate()
    try:
        provider.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        provider.process.kill()


def authorize_as(authorization_url: str, sub: str) -> dict[str, str]:
    """What a person does at the provider's page (press their user's button), without a browser: the query
    of the redirect back to us (code and state, or an error)."""
    resp = httpx.post(authorization_url, data={"sub": sub}, follow_redirects=False, timeout=10)
    assert resp.status_code in (302, 303), (resp.status_code, resp.text[:500])
    return dict(httpx.URL(resp.headers["location"]).params)
