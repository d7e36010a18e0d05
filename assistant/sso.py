"""Single sign-on: OpenID Connect's authorization-code flow and a trusted proxy's headers.

OpenID Connect: authlib's OAuth2 client builds the authorization URL (with `state`, a `nonce` and a PKCE
S256 challenge) and exchanges the code; the ID token's signature is checked with joserfc against the
provider's published keys (JWKS), then its issuer, audience, expiry and nonce here, each refusal naming
what was wrong. The state, nonce and PKCE verifier wait in the application database (`sign_in_requests`),
so the provider's redirect may reach any web process; a state is used once.

Both ways end in an `Identity` (account name, role, groups) mapped from the provider's groups by
`[auth] role_map`, `default_role` and `group_map`; `Accounts.sign_in_external` turns it into the account.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import delete, insert

from assistant.accounts import GROUP_RE, NAME_RE
from assistant.appdb import AppDB, sign_in_requests
from assistant.config import AuthSettings, OidcSettings
from assistant.errors import Kind, Unavailable, UserError

log = logging.getLogger("assistant.sso")

# A sign-in left at the provider's page longer than this starts again.
REQUEST_TTL_S = 600.0
# Clock skew tolerated between us and the provider on `exp` and `iat`.
LEEWAY_S = 60
ROLE_RANK = {"staff": 0, "evaluator": 1, "admin": 2}


class SignInError(UserError):
    """A refused single sign-on, with what went wrong for the person (and the admin reading the log)."""

    kind: Kind = "denied"


@dataclass(frozen=True)
class Identity:
    name: str
    role: str
    groups: tuple[str, ...]


def map_identity(auth: AuthSettings, name: str, groups: list[str], roles: list[str] | None = None) -> Identity:
    """The provider's user as ours: the highest role any of their groups (or role-claim values) maps to,
    else `default_role` (empty: refused); their groups through `group_map` (empty map: as they are)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise SignInError(f"the identity provider's user name {name!r} is not a valid account name here "
                          "(1-64 letters, digits or . _ @ -)")
    mapped = [auth.role_map[g] for g in [*groups, *(roles or [])] if g in auth.role_map]
    role = max(mapped, key=ROLE_RANK.__getitem__) if mapped else auth.default_role
    if not role:
        raise SignInError(f"{name} has no role in the assistant: none of their groups is in [auth] role_map; "
                          "ask an administrator")
    ours: list[str] = []
    for group in groups:
        group = auth.group_map.get(group, group if not auth.group_map else "")
        if not group:
            continue
        if not GROUP_RE.fullmatch(group):
            log.warning("group %r of %s is not a valid group name here; map it with [auth] group_map", group, name)
            continue
        if group not in ours:
            ours.append(group)
    return Identity(name, role, tuple(ours))


def string_list(value: Any, claim: str) -> list[str]:
    """A claim that must be a list of strings (groups, roles); absent is empty."""
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    kind = "a string" if isinstance(value, str) else type(value).__name__
    raise SignInError(f"the identity provider sent the {claim!r} claim as {kind}, not a list of strings; "
                      f"configure the provider to send a list, or set [auth.oidc] groups_claim to one that is")


# -- a trusted proxy's headers ---------------------------------------------------------------------------
def proxy_identity(auth: AuthSettings, peer: str | None, headers: Mapping[str, str]) -> Identity | None:
    """Who a trusted proxy (oauth2-proxy, …) says is asking, or None: header mode off, the request not from
    one of `trusted_proxies` (then the headers are ignored: anyone can send them), or no user header."""
    if not auth.trusted_header_user or not peer or not _trusted(auth.trusted_proxies, peer):
        return None
    name = (headers.get(auth.trusted_header_user) or "").strip()
    if not name:
        return None
    raw = headers.get(auth.trusted_header_groups or "", "") if auth.trusted_header_groups else ""
    return map_identity(auth, name, [g.strip() for g in raw.split(",") if g.strip()])


def _trusted(networks: list[str], peer: str) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n.strip(), strict=False) for n in networks)


# -- OpenID Connect ----------------------------------------------------------------------------------------
def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class OidcProvider:
    """The provider's discovery document and keys, fetched once per process (keys again on an unknown key id:
    providers rotate them)."""

    def __init__(self, settings: OidcSettings, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self.issuer = (settings.issuer or "").rstrip("/")
        self.http = http or httpx.Client(timeout=settings.timeout_s, follow_redirects=True)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            resp = self.http.get(url)
            resp.raise_for_status()
            doc = resp.json()
        except (httpx.HTTPError, ValueError) as err:
            raise Unavailable(f"the identity provider's {what} at {url} could not be read ({err}); check "
                              "[auth.oidc] issuer and that the provider answers") from err
        if not isinstance(doc, dict):
            raise Unavailable(f"the identity provider's {what} at {url} is not a JSON object")
        return doc

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                url = f"{self.issuer}/.well-known/openid-configuration"
                doc = self._get_json(url, "discovery document")
                if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
                    raise SignInError(f"the provider at {url} says its issuer is {doc.get('issuer')!r}, not the "
                                      f"configured {self.settings.issuer!r}: an unknown issuer is never trusted")
                missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)]
                if missing:
                    raise Unavailable(f"the discovery document at {url} lacks {', '.join(missing)}")
                self._metadata = doc
            return self._metadata

    def keys(self, refresh: bool = False) -> dict[str, Any]:
        with self._lock:
            if self._jwks is None or refresh:
                assert self._metadata is not None
                self._jwks = self._get_json(self._metadata["jwks_uri"], "signing keys (JWKS)")
            return self._jwks


class OidcSignIn:
    """One sign-in: `start` sends the browser to the provider, `finish` takes it back with the code."""

    def __init__(self, auth: AuthSettings, db: AppDB, http: httpx.Client | None = None) -> None:
        self.auth, self.settings, self.db = auth, auth.oidc, db
        self.provider = OidcProvider(auth.oidc, http)

    def _client(self, redirect_uri: str) -> Any:
        from authlib.integrations.httpx_client import OAuth2Client

        return OAuth2Client(client_id=self.settings.client_id, client_secret=self.settings.secret(),
                            scope=self.settings.scopes, redirect_uri=redirect_uri, code_challenge_method="S256",
                            timeout=self.settings.timeout_s)

    def start(self, redirect_uri: str) -> tuple[str, str]:
        """(the provider's authorization URL, the state to keep in the browser's cookie)."""
        metadata = self.provider.metadata()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        now = time.time()
        with self.db.engine.begin() as conn:
            conn.execute(delete(sign_in_requests).where(sign_in_requests.c.expires < now))
            conn.execute(insert(sign_in_requests).values(state_hash=_sha256(state), nonce=nonce,
                                                         code_verifier=verifier, expires=now + REQUEST_TTL_S))
        with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(metadata["authorization_endpoint"], state=state,
                                                     code_verifier=verifier, nonce=nonce)
        return url, state

    def finish(self, redirect_uri: str, params: Mapping[str, str], browser_state: str | None) -> Identity:
        """The provider's redirect back: the state checked (and used up), the code exchanged, the ID token
        verified, the claims mapped. Raises SignInError saying what was wrong."""
        if params.get("error"):
            raise SignInError(f"the identity provider did not sign you in: {params['error']}"
                              + (f" ({params['error_description']})" if params.get("error_description") else ""))
        state, code = params.get("state") or "", params.get("code") or ""
        if not state or not browser_state or not secrets.compare_digest(state, browser_state):
            raise SignInError("this sign-in did not start in this browser (its state does not match); "
                              "sign in again from the sign-in page")
        nonce, verifier = self._take_request(state)
        if not code:
            raise SignInError("the identity provider's answer has no code; sign in again")
        token = self._exchange(redirect_uri, code, verifier)
        claims = self._verified_claims(str(token.get("id_token") or ""), nonce)
        if self.settings.groups_claim not in claims and token.get("access_token"):
            claims = {**self._userinfo(str(token["access_token"])), **claims}
        name = next((claims[c] for c in (self.settings.username_claim, "email", "sub") if claims.get(c)), None)
        groups = string_list(claims.get(self.settings.groups_claim), self.settings.groups_claim)
        roles = (string_list(claims.get(self.settings.role_claim), self.settings.role_claim)
                 if self.settings.role_claim else [])
        return map_identity(self.auth, str(name or ""), groups, roles)

    def _take_request(self, state: str) -> tuple[str, str]:
        with self.db.engine.begin() as conn:
            row = conn.execute(delete(sign_in_requests).where(sign_in_requests.c.state_hash == _sha256(state))
                               .returning(sign_in_requests.c.nonce, sign_in_requests.c.code_verifier,
                                          sign_in_requests.c.expires)).first()
        if row is None:
            raise SignInError("this sign-in link was already used or is unknown here; sign in again")
        if row.expires < time.time():
            raise SignInError("this sign-in took too long and expired; sign in again")
        return row.nonce, row.code_verifier

    def _exchange(self, redirect_uri: str, code: str, verifier: str) -> dict[str, Any]:
        from authlib.integrations.base_client import OAuthError

        endpoint = self.provider.metadata()["token_endpoint"]
        try:
            with self._client(redirect_uri) as client:
                return dict(client.fetch_token(endpoint, grant_type="authorization_code", code=code,
                                               code_verifier=verifier))
        except OAuthError as err:
            raise SignInError(f"the identity provider refused the sign-in code ({err.error}"
                              + (f": {err.description}" if err.description else "")
                              + "): it expired or was used already; sign in again") from err
        except httpx.HTTPError as err:
            raise Unavailable(f"the identity provider's token endpoint {endpoint} does not answer ({err})") from err

    def _verified_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import BadSignatureError, JoseError
        from joserfc.jwk import KeySet

        if not id_token:
            raise SignInError("the identity provider sent no ID token (is `openid` among [auth.oidc] scopes?)")
        algorithms = self.provider.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in algorithms if a != "none"]
        decoded = None
        for refresh in (False, True):  # the provider may have rotated its keys since we read them
            try:
                decoded = jwt.decode(id_token, KeySet.import_key_set(self.provider.keys(refresh)), algorithms)
                break
            except BadSignatureError as err:
                if refresh:
                    raise SignInError("the ID token's signature does not verify against the provider's keys") from err
            except JoseError as err:
                if refresh:
                    raise SignInError(f"the ID token could not be verified ({err.error}: {err.description})") from err
        assert decoded is not None
        claims = dict(decoded.claims)
        self._check_claims(claims, nonce)
        return claims

    def _check_claims(self, claims: dict[str, Any], nonce: str) -> None:
        issuer, client_id, now = self.provider.issuer, self.settings.client_id, time.time()
        if str(claims.get("iss", "")).rstrip("/") != issuer:
            raise SignInError(f"the ID token was issued by {claims.get('iss')!r}, not {issuer!r}")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if client_id not in audiences:
            raise SignInError(f"the ID token is meant for {audience!r}, not this application ({client_id!r})")
        if len(audiences) > 1 and claims.get("azp") not in (None, client_id):
            raise SignInError(f"the ID token was issued to {claims.get('azp')!r}, not {client_id!r}")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp + LEEWAY_S < now:
            raise SignInError("the ID token has expired; sign in again")
        if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
            raise SignInError("the ID token's nonce is not this sign-in's (a replayed token); sign in again")
        if not claims.get("sub"):
            raise SignInError("the ID token names no subject (sub)")

    def _userinfo(self, access_token: str) -> dict[str, Any]:
        url = self.provider.metadata().get("userinfo_endpoint")
        if not url:
            return {}
        try:
            resp = self.provider.http.get(url, headers={"Authorization": f"Bearer {access_token}"})
            resp.raise_for_status()
            doc = resp.json()
        except (httpx.HTTPError, ValueError) as err:
            raise Unavailable(f"the identity provider's userinfo endpoint {url} could not be read ({err})") from err
        return doc if isinstance(doc, dict) else {}


# -- a directory (LDAP) behind our password form ------------------------------------------------------------
class LdapDirectory:
    """Checks a name and password by binding to the directory as that user (ldap3), then reads their groups.
    Names are checked against our account-name rule first and escaped into the DN and the filter, so the
    form cannot inject LDAP syntax."""

    def __init__(self, auth: AuthSettings) -> None:
        self.auth, self.settings = auth, auth.ldap

    def identity(self, name: str, password: str) -> Identity | None:
        """The user's identity, or None when the directory refuses the name or password. Raises Unavailable
        when the directory does not answer, SignInError when its groups map onto no role."""
        try:
            import ldap3
            from ldap3.core.exceptions import LDAPException
            from ldap3.utils.conv import escape_filter_chars
            from ldap3.utils.dn import escape_rdn
        except ImportError as err:
            raise Unavailable("[auth.ldap] needs the ldap3 package: pip install \".[ldap]\"") from err
        if not NAME_RE.fullmatch(name or "") or not password:
            return None
        dn = self.settings.user_dn.format(name=escape_rdn(name))
        timeout = max(1, round(self.settings.timeout_s))  # ldap3 hands it to setsockopt, which takes whole seconds
        server = ldap3.Server(self.settings.url, connect_timeout=timeout)
        try:
            conn = ldap3.Connection(server, user=dn, password=password, receive_timeout=timeout)
            if self.settings.start_tls:
                conn.open()
                conn.start_tls()
            if not conn.bind():
                return None
            groups: list[str] = []
            if self.settings.group_base:
                attribute = self.settings.group_name_attribute
                conn.search(self.settings.group_base, self.settings.group_filter.format(dn=escape_filter_chars(dn)),
                            attributes=[attribute])
                groups = [str(value) for entry in conn.entries for value in entry[attribute].values]
            conn.unbind()
        except LDAPException as err:
            raise Unavailable(f"the directory at {self.settings.url} does not answer or refused the search "
                              f"({type(err).__name__}: {err}); check [auth.ldap] url") from err
        return map_identity(self.auth, name, groups)
