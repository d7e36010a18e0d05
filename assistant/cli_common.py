"""What every `assistant` sub-command shares: exit codes, stderr, the --home and --json options, one-line
failures and the one JSON document on stdout. Its own module, so the sub-command modules that
`assistant.cli` imports need not import it back."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

EXIT_USAGE = 2
EXIT_PARTIAL = 3

err_console = Console(stderr=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="State folder of this deployment (default: $ASSISTANT_HOME or ~/.assistant)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")]


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
