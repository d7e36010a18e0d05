"""What every `assistant` command shares: exit codes, stderr, the --home, --json and --user options, the
services and the acting user, the progress bar, and the one place a user's error becomes one line and
exit 2. The feature modules import this module, never the package that composes them, so there is no
cycle."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from assistant.components import Components
from assistant.config import load_settings
from assistant.errors import as_user_error
from assistant.services import Services, User, operator
from assistant.work import Foreground
from indexing.metadata import parse_key_values

EXIT_OK = 0
EXIT_USAGE = 2  # a usage, configuration or other user error: one line on stderr, nothing done
EXIT_PARTIAL = 3  # some inputs failed, the rest succeeded; the failures are listed

err_console = Console(stderr=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="State folder of this deployment (default: $ASSISTANT_HOME or ~/.assistant)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")]
UserOpt = Annotated[
    str | None,
    typer.Option("--user", help="Retrieve as this user (their groups apply); without it, unrestricted."),
]
WhereOpt = Annotated[
    list[str] | None, typer.Option("--where", help="Metadata filter K=V (repeatable), e.g. --where doc_type=bid.")
]
QueueOpt = Annotated[bool, typer.Option(
    "--queue", help="Queue it for the workers instead of running it here; prints the job (--json: {\"job\": ID}).")]
TopKOpt = Annotated[int | None, typer.Option("--top-k", min=1, max=200, help="Number of chunks to retrieve.")]


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def say(text: str, quiet: bool = False) -> None:
    """A message for the person at the terminal, on stderr (stdout is kept for --json)."""
    if not quiet:
        err_console.print(text, highlight=False, soft_wrap=True)


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def parse_where(pairs: list[str] | None, option: str = "--where") -> dict[str, Any] | None:
    return parse_key_values(pairs, option) or None


# -- the one error handler -------------------------------------------------------------------------------
class UserErrorGroup(TyperGroup):
    """Every `assistant` command group: a UserError (or a library error `as_user_error` maps onto one) from
    any command below becomes `error: MESSAGE` on stderr and exit 2. Anything else is a bug and keeps its
    traceback. Here, not in `main()`, so that an app invoked in-process (tests, CliRunner) behaves the same."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as err:
            user_error = as_user_error(err)
            if user_error is None:
                raise
            fail(str(user_error))


def new_app(help: str, **kwargs: Any) -> typer.Typer:
    """A command group that reports user errors through `UserErrorGroup`."""
    return typer.Typer(help=help, cls=UserErrorGroup, add_completion=False, pretty_exceptions_enable=False,
                       **kwargs)


# -- services, the acting user, progress -----------------------------------------------------------------
class RichProgress:
    """The `indexing.progress.Progress` protocol on a rich progress bar on stderr."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar: Progress | None = None
        self._task: Any = None

    def message(self, text: str) -> None:
        if not self.quiet:
            err_console.print(f"[dim]{text}[/dim]", highlight=False)

    def start(self, total: int, label: str) -> None:
        if self.quiet:
            return
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[item]}"), TimeElapsedColumn(), console=err_console, transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(label, total=total, item="")

    def advance(self, n: int = 1, label: str | None = None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=n, item=(label or "")[:40])

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def progress_work(quiet: bool = False) -> Foreground:
    """The `Work` a foreground command reports to: the progress bar (nothing with `quiet`)."""
    return Foreground(RichProgress(quiet))


def services(home: Path | None, quiet: bool = False) -> Services:
    """The services of the home, for this one command. Model preparation and other messages of the shared
    components go to stderr unless `quiet` (as with --json, where a script reads only stdout)."""
    settings = load_settings(home)
    svc = Services(settings, components=Components(settings, RichProgress(quiet)))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(svc.close)
    return svc


def acting_user(svc: Services, user_name: str | None = None) -> User:
    """`--user NAME`: that account, with its role and groups; without it, the operator (every permission,
    every document), audited under the operating-system account that ran the command."""
    return operator() if user_name is None else svc.users.find(user_name)
