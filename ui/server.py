"""One FastAPI application: sign-in pages, the Gradio app at /, the API at /v1, cited files at /document.

`create_app` wires one `Services` into thin routes; `serve` runs it with uvicorn.
"""

from __future__ import annotations

import html
import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from assistant.config import Settings
from assistant.errors import HTTP_STATUS, UserError
from assistant.services import AuthError, Services
from ui.access_log import AccessLog
from ui.deps import SESSION_COOKIE, ServicesDep, SessionUser, session_user_of

_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Assistant</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body {{ font-family: system-ui, sans-serif; background: #f4f5f7; display: flex; justify-content: center;
        align-items: center; min-height: 100vh; margin: 0; }}
 main {{ background: #fff; padding: 2rem 2.5rem; border-radius: 10px; box-shadow: 0 2px 12px #0002; width: 320px; }}
 .sso {{ display: block; text-align: center; padding: .6rem; border-radius: 6px; background: #1f2937; color: #fff;
        text-decoration: none; }}
 .or {{ text-align: center; margin: 1rem 0 0; }}
 h1 {{ font-size: 1.3rem; margin: 0 0 1.2rem; }}
 label {{ display: block; font-size: .9rem; margin: .8rem 0 .3rem; }}
 input {{ width: 100%; box-sizing: border-box; padding: .55rem; border: 1px solid #bbb; border-radius: 6px; }}
 button {{ margin-top: 1.3rem; width: 100%; padding: .6rem; border: 0; border-radius: 6px; background: #ea580c;
          color: #fff; font-size: 1rem; cursor: pointer; }}
 .error {{ color: #b91c1c; background: #fee2e2; padding: .5rem .7rem; border-radius: 6px; font-size: .9rem; }}
 .note {{ color: #555; font-size: .85rem; }}
</style></head>
<body><main>
 <h1>Enterprise assistant</h1>
 {message}
 {sso}
 {password}
</main></body></html>"""

_PASSWORD_FORM = """<form method="post" action="/login">
 <label for="username">User name</label><input id="username" name="username" autocomplete="username" autofocus>
 <label for="password">Password</label>
 <input id="password" name="password" type="password" autocomplete="current-password">
 <button type="submit">Sign in</button>
</form>"""
_SSO_BUTTON = '<a class="sso" id="sign-in-sso" href="/login/oidc">Sign in with {name}</a>'
OIDC_STATE_COOKIE = "assistant_oidc_state"


def _login_page(options: dict, message: str = "", status: int = 200) -> HTMLResponse:
    block = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    sso = _SSO_BUTTON.format(name=html.escape(options["oidc"])) if options["oidc"] else ""
    if sso and options["password"]:
        sso += '<p class="note or">or with a password of this site</p>'
    page = _LOGIN_PAGE.format(message=block, sso=sso, password=_PASSWORD_FORM if options["password"] else "")
    return HTMLResponse(page, status_code=status)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    import gradio as gr

    from ui.api import router
    from ui.document_routes import router as document_router
    from ui.web import CSS, build_blocks

    services = services or Services(settings)
    app = FastAPI(title="Enterprise assistant", docs_url="/v1/docs", openapi_url="/v1/openapi.json")
    app.state.services = services
    app.include_router(router)
    app.include_router(document_router)
    _add_health(app)
    _add_pages(app, settings)

    @app.exception_handler(UserError)
    def _user_error(_request: Request, err: UserError) -> JSONResponse:
        # The pages' routes (a cited file, a report): the kind's status, the message for the person.
        return JSONResponse({"error": str(err)}, status_code=HTTP_STATUS[err.kind])

    app.add_middleware(SignInFirst, services=services)
    # Added last, so outermost: a sign-in redirect is logged too, and every response carries its request id.
    app.add_middleware(AccessLog, enabled=settings.logging.access_log)

    def gradio_user(request: Request) -> str | None:
        user = session_user_of(services, request)
        return user.name if user else None

    blocks = build_blocks(services)
    blocks.queue(default_concurrency_limit=settings.web.concurrency)
    # show_error=False: a bug shows as Gradio's generic error (its traceback goes to the log); what the user
    # can fix is a gr.Error (ui.web.common.user_errors), which Gradio always shows with its message.
    return gr.mount_gradio_app(app, blocks, path="/", auth_dependency=gradio_user, show_error=False, css=CSS)


class SignInFirst:
    """Gradio answers 401 JSON to a page load without a user; people get the sign-in form instead.

    A plain ASGI middleware: `@app.middleware("http")` would hide a client's disconnect from the streaming
    responses behind it, so an abandoned /v1 stream would generate to its end."""

    def __init__(self, app: Any, services: Services) -> None:
        self.app, self.services = app, services

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/":
            request = Request(scope)
            if session_user_of(self.services, request) is None:
                expired = 1 if request.cookies.get(SESSION_COOKIE) else 0
                redirect = RedirectResponse(f"/login?expired={expired}" if expired else "/login", status_code=303)
                await redirect(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _add_health(app: FastAPI) -> None:
    """`/health`: the process answers (liveness). `/health/ready`: the base engine loads, the embedder loads
    and the vector store answers: 200 with each check "ok", else 503 with what failed; `load` is the local
    model's rows generating and requests waiting (null for a remote model). No key needed."""

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", include_in_schema=False)
    def ready(services: ServicesDep) -> JSONResponse:
        checks = services.chat.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks,
                             "load": services.chat.load()}, status_code=200 if ok else 503)


def _add_pages(app: FastAPI, settings: Settings) -> None:
    """Sign-in and sign-out, and the files a page links to (cited documents, evaluation reports)."""

    def signed_in(token: str) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                            max_age=int(settings.web.session_hours * 3600))
        return response

    @app.get("/login", include_in_schema=False)
    def login_form(user: SessionUser, services: ServicesDep, expired: int = 0) -> Response:
        if user:
            return RedirectResponse("/", status_code=303)
        message = "Your session has expired; please sign in again." if expired else ""
        return _login_page(services.users.sign_in_options(), message)

    @app.post("/login", include_in_schema=False)
    def login(services: ServicesDep, username: str = Form(""), password: str = Form("")) -> Response:
        try:
            _user, token = services.users.password_login(username, password)
        except AuthError as err:
            return _login_page(services.users.sign_in_options(), str(err), status=401)
        except UserError as err:  # e.g. the directory behind the form does not answer
            return _login_page(services.users.sign_in_options(), str(err), status=HTTP_STATUS[err.kind])
        return signed_in(token)

    def callback_url(request: Request) -> str:
        return settings.auth.oidc.redirect_url or str(request.url_for("oidc_callback"))

    @app.get("/login/oidc", include_in_schema=False)
    def oidc_start(request: Request, services: ServicesDep) -> Response:
        """To the identity provider; the state also waits in a cookie, so the answer must come back to this
        browser (a sign-in link sent to someone else does not sign them in as you)."""
        try:
            url, state = services.users.oidc_start(callback_url(request))
        except UserError as err:
            return _login_page(services.users.sign_in_options(), str(err), status=HTTP_STATUS[err.kind])
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(OIDC_STATE_COOKIE, state, httponly=True, samesite="lax", max_age=600,
                            path="/login/oidc")
        return response

    @app.get("/login/oidc/callback", include_in_schema=False, name="oidc_callback")
    def oidc_callback(request: Request, services: ServicesDep) -> Response:
        try:
            _user, token = services.users.oidc_finish(callback_url(request), dict(request.query_params),
                                                      request.cookies.get(OIDC_STATE_COOKIE))
        except UserError as err:
            response = _login_page(services.users.sign_in_options(), str(err), status=HTTP_STATUS[err.kind])
        else:
            response = signed_in(token)
        response.delete_cookie(OIDC_STATE_COOKIE, path="/login/oidc")
        return response

    @app.get("/logout", include_in_schema=False)
    def logout(request: Request, services: ServicesDep) -> Response:
        services.users.logout(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/reports/{report_id}/{name:path}", include_in_schema=False)
    def report(user: SessionUser, services: ServicesDep, report_id: str, name: str) -> Response:
        """A report's files, for evaluators and admins (the same check as the Reports tab)."""
        return FileResponse(services.reports.file(user, report_id, name))  # type: ignore[arg-type]


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    app = create_app(settings)
    # Behind an authenticating proxy the peer's own address decides whether its headers are believed:
    # uvicorn must not replace it with the X-Forwarded-For the proxy (or anyone) sends.
    proxy_headers = not settings.auth.trusted_header_user
    # A browser's open event stream would otherwise hold a stopping server (SIGTERM) for as long as it stays.
    uvicorn.run(app, host=host or settings.web.host, port=port or settings.web.port, log_level="warning",
                proxy_headers=proxy_headers, timeout_graceful_shutdown=5)
