"""The API's one error mapping: a UserError's kind -> an HTTP status and OpenAI's error JSON. Nothing here
reads an error's message to decide anything; an error that is not the user's is a 500 (logged in full)."""

from __future__ import annotations

import logging

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from assistant.errors import HTTP_STATUS, as_user_error

log = logging.getLogger("ui.api")

# OpenAI's `type` for each kind of user error (its clients branch on the status; some read the type).
OPENAI_TYPE = {"invalid": "invalid_request_error", "denied": "permission_error",
               "not_found": "invalid_request_error", "unavailable": "server_error"}


RETRY_AFTER_S = 5


class ApiError(Exception):
    """An answer the API gives instead of a result: status, message and OpenAI's type and code."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {}
        if self.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if self.status == 503:  # busy or a server behind us down: OpenAI's clients wait this long and retry
            headers["Retry-After"] = str(RETRY_AFTER_S)
        return JSONResponse(self.body(), status_code=self.status, headers=headers or None)


def unauthorized() -> ApiError:
    return ApiError(401, "a valid API key is required (Authorization: Bearer KEY; see `assistant users key`)",
                    "invalid_request_error", "invalid_api_key")


def api_error(err: BaseException, not_found_code: str | None = None) -> ApiError:
    """`err` as the API answers it. `not_found_code` is OpenAI's code for a not_found error where the caller
    knows what was not found (`model_not_found` for the request's model)."""
    if isinstance(err, ApiError):
        return err
    if isinstance(err, RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in err.errors())
        first = err.errors()[0]["loc"][1:2] if err.errors() else ()
        return ApiError(400, f"invalid request: {problems}", param=str(first[0]) if first else None)
    user_error = as_user_error(err)
    if user_error is None:
        log.error("internal error in the API", exc_info=err)
        return ApiError(500, "internal error: the server's log has the details", "server_error")
    code = not_found_code if user_error.kind == "not_found" else None
    return ApiError(HTTP_STATUS[user_error.kind], str(user_error), OPENAI_TYPE[user_error.kind], code)


def route_not_found(method: str, path: str) -> ApiError:
    return ApiError(404, f"no route {method} {path} (see /v1/docs)", "invalid_request_error", "unknown_url")
