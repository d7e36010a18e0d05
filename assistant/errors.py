"""The one error type a user can act on, and the one place library errors are mapped onto it.

A `UserError` carries a kind, and each front end turns the kind into its own answer once: the CLI
into an exit code and one line on stderr, the API into an HTTP status and OpenAI's error JSON, the
web app into a message. Anything that is not a `UserError` (after `as_user_error`) is a bug and is
shown as one, never dressed up as the user's mistake.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["invalid", "denied", "not_found", "unavailable"]

# What each kind means to an HTTP client; the CLI exits 2 for all of them (see assistant/cli/common.py).
HTTP_STATUS: dict[str, int] = {"invalid": 400, "denied": 403, "not_found": 404, "unavailable": 503}


class UserError(Exception):
    """Something the user can fix: the message names the file, field or address and says what to do."""

    kind: Kind = "invalid"

    def __init__(self, message: str, kind: Kind | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class InputError(UserError, ValueError):
    """A malformed input file or argument; the message names it (and the line)."""


class NotFound(UserError, LookupError):
    kind: Kind = "not_found"


class PermissionDenied(UserError, PermissionError):
    """The acting user's role (or a missing sign-in) does not allow this action."""

    kind: Kind = "denied"


class Unavailable(UserError, RuntimeError):
    """A model, server or store cannot be used right now; the message says which and what to do."""

    kind: Kind = "unavailable"


def _library_kinds() -> list[tuple[type[BaseException], Kind]]:
    # Imported here, not at module level, so that importing the error type stays cheap for every front end.
    from eval.questions import EvalInputError
    from finetune.errors import FinetuneError
    from indexing.embedding import ModelUnavailable
    from indexing.ingest import IndexBusy
    from indexing.metadata import MetadataError
    from indexing.store import StoreUnavailable

    return [
        (StoreUnavailable, "unavailable"), (ModelUnavailable, "unavailable"), (IndexBusy, "unavailable"),
        (MetadataError, "invalid"), (FinetuneError, "invalid"), (EvalInputError, "invalid"),
    ]


def as_user_error(err: BaseException) -> UserError | None:
    """`err` as a UserError when the user can act on it; None when it is a bug."""
    if isinstance(err, UserError):
        return err
    for cls, kind in _library_kinds():
        if isinstance(err, cls):
            wrapped = UserError(str(err), kind)
            wrapped.__cause__ = err
            return wrapped
    return None
