"""Single sign-on (assistant/sso.py): the OpenID Connect flow against a real provider process
(tests/oidc.py), ID-token checks on tokens this test signs itself (a provider never sends a wrong audience,
nonce or signature on request), the groups-to-role mapping, and a trusted proxy's headers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from assistant.appdb import AppDB
from assistant.config import AuthSettings
from assistant.errors import Unavailable
from assistant.sso import Identity, OidcSignIn, SignInError, map_identity, proxy_identity
from tests.oidc import authorize_as, oidc_provider  # noqa: F401

CALLBACK = "http://127.0.0.1:1/login/oidc/callback"  # never reached: the test reads the redirect itself


@pytest.fixture
def db(tmp_path: Path):
    database = AppDB(f"sqlite:///{tmp_path / 'app.db'}")
    yield database
    database.close()


def auth_for(provider, **extra) -> AuthSettings:
    return AuthSettings(role_map={"assistant-admins": "admin"}, oidc={"issuer": provider.url, "client_id": "assistant",
                        "client_secret": "s3cret"}, **extra)


def sign_in(flow: OidcSignIn, sub: str) -> Identity:
    url, state = flow.start(CALLBACK)
    return flow.finish(CALLBACK, authorize_as(url, sub), state)


def test_provider_users_map_onto_roles_and_groups(oidc_provider, db) -> None:  # noqa: F811
    flow = OidcSignIn(auth_for(oidc_provider), db)
    assert sign_in(flow, "olivia") == Identity("olivia", "staff", ("leadership", "staff"))
    assert sign_in(flow, "oscar") == Identity("oscar", "staff", ("staff",))
    assert sign_in(flow, "ines") == Identity("ines", "admin", ("assistant-admins",))
    # Only mapped groups count once group_map is set; nobody without a mapped role gets in when default_role "".
    strict = OidcSignIn(auth_for(oidc_provider, default_role="", group_map={"leadership": "board"}), db)
    assert sign_in(strict, "ines") == Identity("ines", "admin", ())
    with pytest.raises(SignInError, match="olivia has no role in the assistant"):
        sign_in(strict, "olivia")


def test_refusals_name_what_was_wrong(oidc_provider, db) -> None:  # noqa: F811
    flow = OidcSignIn(auth_for(oidc_provider), db)
    with pytest.raises(SignInError, match="'groups' claim as a string, not a list"):
        sign_in(flow, "stringy")
    url, state = flow.start(CALLBACK)
    answer = authorize_as(url, "olivia")
    with pytest.raises(SignInError, match="did not start in this browser"):
        flow.finish(CALLBACK, answer, "another-browsers-state")
    with pytest.raises(SignInError, match="already used or is unknown"):  # a state we never issued
        flow.finish(CALLBACK, {**answer, "state": "forged"}, "forged")
    assert flow.finish(CALLBACK, answer, state).name == "olivia"
    with pytest.raises(SignInError, match="already used or is unknown"):  # the same answer twice
        flow.finish(CALLBACK, answer, state)
    # A used (or expired) code under a fresh state: the provider refuses it, and we say so.
    _url, fresh = flow.start(CALLBACK)
    with pytest.raises(SignInError, match=r"refused the sign-in code \(invalid_grant"):
        flow.finish(CALLBACK, {"code": answer["code"], "state": fresh}, fresh)
    with pytest.raises(SignInError, match="did not sign you in: access_denied"):
        flow.finish(CALLBACK, {"error": "access_denied", "state": fresh}, fresh)


def test_an_issuer_that_is_not_the_configured_one_is_refused(db) -> None:
    """The provider process always names the issuer it was reached at, so this discovery document comes
    from a transport in the test: one claiming another issuer."""
    doc = {"issuer": "https://evil.example", "authorization_endpoint": "x", "token_endpoint": "y", "jwks_uri": "z"}
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=doc)))
    flow = OidcSignIn(AuthSettings(oidc={"issuer": "https://login.example", "client_id": "c"}), db, http)
    with pytest.raises(SignInError, match=r"says its issuer is 'https://evil\.example'.*never trusted"):
        flow.start(CALLBACK)


def test_a_provider_that_does_not_answer_is_named(db) -> None:
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    flow = OidcSignIn(AuthSettings(oidc={"issuer": url, "client_id": "c"}), db)
    with pytest.raises(Unavailable, match=f"discovery document at {url}/.well-known/openid-configuration"):
        flow.start(CALLBACK)


# -- ID tokens signed here --------------------------------------------------------------------------------
@pytest.fixture
def forged(db):
    """(a sign-in whose provider publishes `key`, a function signing claims with any key, the key)."""
    from joserfc import jwt
    from joserfc.jwk import KeySet, RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    jwks = KeySet([key]).as_dict(private=False)
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=jwks)))
    flow = OidcSignIn(AuthSettings(oidc={"issuer": "https://login.example", "client_id": "assistant"}), db, http)
    flow.provider._metadata = {"issuer": "https://login.example", "jwks_uri": "https://login.example/jwks",
                               "id_token_signing_alg_values_supported": ["RS256"]}

    def sign(claims: dict, with_key=key) -> str:
        base = {"iss": "https://login.example", "aud": "assistant", "sub": "u1", "nonce": "n-1",
                "exp": int(time.time()) + 300, "iat": int(time.time())}
        return jwt.encode({"alg": "RS256", "kid": "k1"}, {**base, **claims}, with_key)

    return flow, sign, key


def test_id_token_checks(forged) -> None:
    from joserfc.jwk import RSAKey

    flow, sign, _key = forged
    assert flow._verified_claims(sign({}), "n-1")["sub"] == "u1"
    assert flow._verified_claims(sign({"aud": ["other", "assistant"], "azp": "assistant"}), "n-1")
    cases = {
        "meant for 'someone-else', not this application": sign({"aud": "someone-else"}),
        "issued to 'other', not 'assistant'": sign({"aud": ["other", "assistant"], "azp": "other"}),
        "issued by 'https://evil.example'": sign({"iss": "https://evil.example"}),
        "nonce is not this sign-in's": sign({"nonce": "n-2"}),
        "has expired": sign({"exp": int(time.time()) - 3600}),
        "signature does not verify": sign({}, with_key=RSAKey.generate_key(2048, parameters={"kid": "k1"})),
    }
    for message, token in cases.items():
        with pytest.raises(SignInError, match=message):
            flow._verified_claims(token, "n-1")
    with pytest.raises(SignInError, match="no ID token"):
        flow._verified_claims("", "n-1")


# -- mapping and the proxy -------------------------------------------------------------------------------------
def test_the_highest_mapped_role_wins_and_bad_names_are_refused_or_dropped() -> None:
    auth = AuthSettings(role_map={"readers": "evaluator", "ops": "admin"})
    assert map_identity(auth, "a", ["readers", "ops"]).role == "admin"
    assert map_identity(auth, "a", ["x"], roles=["readers"]).role == "evaluator"
    assert map_identity(auth, "a", ["CN=Board,OU=Groups", "board"]).groups == ("board",)  # not a group name here
    with pytest.raises(SignInError, match="not a valid account name"):
        map_identity(auth, "no spaces please", [])


def test_proxy_headers_count_only_from_trusted_addresses() -> None:
    auth = AuthSettings(trusted_header_user="X-Forwarded-User", trusted_header_groups="X-Forwarded-Groups",
                        trusted_proxies=["10.0.0.0/8"], role_map={"admins": "admin"})
    headers = {"X-Forwarded-User": "pat", "X-Forwarded-Groups": "leadership, admins"}
    assert proxy_identity(auth, "10.1.2.3", headers) == Identity("pat", "admin", ("leadership", "admins"))
    assert proxy_identity(auth, "192.168.1.5", headers) is None, "anyone can send the headers: not believed"
    assert proxy_identity(auth, "10.1.2.3", {}) is None
    assert proxy_identity(AuthSettings(), "127.0.0.1", headers) is None, "header mode is off by default"
