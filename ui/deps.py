"""FastAPI dependencies: the process's services and who is asking (a session cookie for pages, a Bearer key
for the API). Routes declare what they need, e.g. `user: ApiUser`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.services import AuthError, Services, User
from ui.openai_errors import unauthorized

SESSION_COOKIE = "assistant_session"


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def session_user_of(services: Services, request: Request) -> User | None:
    """The signed-in user of a page request (also used outside routes: the middleware, Gradio's auth): the
    one a trusted proxy's headers name ([auth] trusted_header_user), else the session cookie's."""
    peer = request.client.host if request.client else None
    try:
        proxied = services.users.proxy_user(peer, request.headers)
    except AuthError:  # a disabled account behind the proxy: signed out, like a disabled session
        return None
    return proxied or services.users.session_user(request.cookies.get(SESSION_COOKIE))


def get_session_user(request: Request, services: ServicesDep) -> User | None:
    return session_user_of(services, request)


SessionUser = Annotated[User | None, Depends(get_session_user)]


def get_api_user(request: Request, services: ServicesDep) -> User:
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else None
    user = services.users.key_user(key)
    if user is None:
        raise unauthorized()
    return user


ApiUser = Annotated[User, Depends(get_api_user)]
